# One broker on ECS on EC2: a single EC2 instance (ECS-optimized Amazon
# Linux 2023) with a separate EBS volume mounted at /data/strata, which the
# task mounts as its --data-dir. The volume outlives the instance, so a
# replaced instance gets the same write buffer back: records not yet
# uploaded to the bucket survive a host replacement.

data "aws_region" "current" {}

locals {
  bucket_url   = "s3://${aws_s3_bucket.this.bucket}/${var.prefix}?region=${data.aws_region.current.name}"
  host_dir     = "/data/strata"
  kafka_port   = 9092
  http_port    = 9644
  broker_count = var.create_broker ? 1 : 0
}

data "aws_subnet" "broker" {
  count = local.broker_count
  id    = var.subnet_id
}

data "aws_ssm_parameter" "ami" {
  count = local.broker_count
  name  = var.ami_ssm_parameter
}

resource "aws_ecs_cluster" "this" {
  count = local.broker_count
  name  = var.name
  tags  = var.tags
}

resource "aws_security_group" "broker" {
  count       = local.broker_count
  name        = "${var.name}-broker"
  description = "Strata broker: Kafka and HTTP from allowed_cidr_blocks"
  vpc_id      = data.aws_subnet.broker[0].vpc_id
  tags        = var.tags

  # Nothing may connect until allowed_cidr_blocks is set.
  dynamic "ingress" {
    for_each = {
      for description, port in {
        "Kafka"                             = local.kafka_port
        "HTTP: /healthz, /readyz, /metrics" = local.http_port
      } : description => port if length(var.allowed_cidr_blocks) > 0
    }
    content {
      description = ingress.key
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = var.allowed_cidr_blocks
    }
  }

  egress {
    description = "S3, ECS, ECR, CloudWatch Logs"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_ebs_volume" "data" {
  count             = local.broker_count
  availability_zone = data.aws_subnet.broker[0].availability_zone
  size              = var.data_volume_size_gb
  type              = var.data_volume_type
  encrypted         = true
  tags              = merge(var.tags, { Name = "${var.name}-data" })
}

resource "aws_instance" "broker" {
  count                  = local.broker_count
  ami                    = data.aws_ssm_parameter.ami[0].insecure_value
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [aws_security_group.broker[0].id]
  iam_instance_profile   = aws_iam_instance_profile.instance[0].name

  # The data volume is attached after boot; the script waits for it,
  # formats it the first time, mounts it, and only then lets the ECS agent
  # join the cluster, so the broker never runs on the root disk.
  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    cluster   = aws_ecs_cluster.this[0].name
    volume_id = aws_ebs_volume.data[0].id
    host_dir  = local.host_dir
  })

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
  }

  tags = merge(var.tags, { Name = "${var.name}-broker" })

  lifecycle {
    ignore_changes = [ami] # a new AMI does not replace the broker by itself
  }
}

resource "aws_volume_attachment" "data" {
  count       = local.broker_count
  device_name = "/dev/xvdf"
  volume_id   = aws_ebs_volume.data[0].id
  instance_id = aws_instance.broker[0].id
  # Detach only from a stopped instance, with the file system unmounted.
  stop_instance_before_detaching = true
}

resource "aws_cloudwatch_log_group" "broker" {
  count             = local.broker_count
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_ecs_task_definition" "broker" {
  count                    = local.broker_count
  family                   = var.name
  requires_compatibilities = ["EC2"]
  # Host networking: the broker listens on the instance's own address and
  # advertises it.
  network_mode       = "host"
  cpu                = var.task_cpu
  memory             = var.task_memory
  task_role_arn      = aws_iam_role.task.arn
  execution_role_arn = aws_iam_role.execution[0].arn
  tags               = var.tags

  volume {
    name      = "data"
    host_path = local.host_dir
  }

  # The flags replace the image's default arguments; flags win over
  # STRATA_* variables and config files.
  container_definitions = jsonencode([{
    name      = "strata"
    image     = var.image
    essential = true
    command = concat([
      "--listen=0.0.0.0:${local.kafka_port}",
      "--http-listen=0.0.0.0:${local.http_port}",
      "--advertised-addr=${aws_instance.broker[0].private_ip}:${local.kafka_port}",
      "--data-dir=/var/lib/strata",
      "--bucket=${local.bucket_url}",
      "--log-format=json",
    ], var.strata_args)
    portMappings = [
      { containerPort = local.kafka_port, hostPort = local.kafka_port, protocol = "tcp" },
      { containerPort = local.http_port, hostPort = local.http_port, protocol = "tcp" },
    ]
    mountPoints = [{ sourceVolume = "data", containerPath = "/var/lib/strata", readOnly = false }]
    ulimits     = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    # SIGTERM: finish in-flight requests, sync the log; then SIGKILL.
    stopTimeout = 60
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.broker[0].name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "strata"
      }
    }
  }])

  lifecycle {
    precondition {
      condition     = var.image != ""
      error_message = "Set var.image to the Strata image (deploy/docker/Dockerfile) when create_broker is true."
    }
  }
}

resource "aws_ecs_service" "broker" {
  count           = local.broker_count
  name            = var.name
  cluster         = aws_ecs_cluster.this[0].id
  task_definition = aws_ecs_task_definition.broker[0].arn
  desired_count   = 1
  launch_type     = "EC2"

  # Never two brokers on one bucket: the old task stops before the new one
  # starts (a second writer would fence the first).
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  depends_on = [aws_volume_attachment.data]
}
