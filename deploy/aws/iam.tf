# What a broker may do in the bucket: read, write and delete objects under
# the prefix, and list the prefix. Strata's conditional writes (PutObject
# with If-None-Match or If-Match, for manifests and fencing) need no other
# permission; HeadObject is covered by s3:GetObject. Strata never uploads in
# parts, so s3:AbortMultipartUpload is not needed.
data "aws_iam_policy_document" "broker" {
  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this.arn}/${local.prefix_slash}*"]
  }

  statement {
    sid       = "List"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]

    dynamic "condition" {
      for_each = var.prefix == "" ? [] : [1]
      content {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = [var.prefix, "${local.prefix_slash}*"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "Kms"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_policy" "broker" {
  name        = "${var.name}-broker"
  description = "Strata brokers: objects under s3://${var.bucket_name}/${local.prefix_slash}"
  policy      = data.aws_iam_policy_document.broker.json
  tags        = var.tags
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The role of the broker's ECS task: the broker policy and nothing else.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "task_broker" {
  role       = aws_iam_role.task.name
  policy_arn = aws_iam_policy.broker.arn
}

# The ECS agent's role for the task: pull the image, write logs.
resource "aws_iam_role" "execution" {
  count              = var.create_broker ? 1 : 0
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  count      = var.create_broker ? 1 : 0
  role       = aws_iam_role.execution[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# The broker host's role: join the ECS cluster, and SSM Session Manager for
# a shell without SSH.
resource "aws_iam_role" "instance" {
  count              = var.create_broker ? 1 : 0
  name               = "${var.name}-instance"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "instance" {
  for_each = var.create_broker ? toset([
    "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
  ]) : toset([])
  role       = aws_iam_role.instance[0].name
  policy_arn = each.value
}

resource "aws_iam_instance_profile" "instance" {
  count = var.create_broker ? 1 : 0
  name  = "${var.name}-instance"
  role  = aws_iam_role.instance[0].name
  tags  = var.tags
}
