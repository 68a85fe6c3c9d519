output "bucket_name" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "bucket_url" {
  description = "The value of strata serve --bucket."
  value       = local.bucket_url
}

output "broker_policy_arn" {
  description = "ARN of the least-privilege IAM policy for brokers (attach it to an IRSA role to run the Helm chart on EKS)."
  value       = aws_iam_policy.broker.arn
}

output "task_role_arn" {
  description = "ARN of the IAM role for broker ECS tasks."
  value       = aws_iam_role.task.arn
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster (null without create_broker)."
  value       = one(aws_ecs_cluster.this[*].name)
}

output "broker_instance_id" {
  description = "ID of the broker's EC2 instance (null without create_broker)."
  value       = one(aws_instance.broker[*].id)
}

output "bootstrap_servers" {
  description = "Kafka bootstrap address of the broker (null without create_broker)."
  value       = var.create_broker ? "${aws_instance.broker[0].private_ip}:${local.kafka_port}" : null
}
