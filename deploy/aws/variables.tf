variable "name" {
  description = "Name (and name prefix) of the IAM, ECS, EC2 and CloudWatch resources."
  type        = string
  default     = "strata"
}

variable "bucket_name" {
  description = "Name of the S3 bucket to create for Strata's remote tier."
  type        = string
}

variable "prefix" {
  description = "Key prefix of Strata's objects in the bucket, without slashes at either end (\"\" for the whole bucket). The brokers may touch only keys under it."
  type        = string
  default     = "strata"

  validation {
    condition     = !startswith(var.prefix, "/") && !endswith(var.prefix, "/")
    error_message = "The prefix must not begin or end with a slash."
  }
}

variable "kms_key_arn" {
  description = "ARN of a KMS key for SSE-KMS; null for SSE-S3 (AES256). With a key, the broker policy also allows kms:GenerateDataKey and kms:Decrypt on it."
  type        = string
  default     = null
}

variable "versioning" {
  description = "Turn on bucket versioning. Strata does not need it (manifests are written with conditional writes); with it, deleted and overwritten objects are kept as noncurrent versions for noncurrent_version_expiration_days."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "With versioning, days after which noncurrent object versions are deleted."
  type        = number
  default     = 7
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which incomplete multipart uploads are aborted (and stop costing storage)."
  type        = number
  default     = 2

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1
    error_message = "Must be at least 1 day."
  }
}

variable "expiration" {
  description = "Optional lifecycle rule deleting objects under a prefix after some days, e.g. { prefix = \"exports/\", days = 30 }. It must not overlap Strata's prefix: Strata applies topic retention itself, and an object expired behind its back is a hole in a partition's history."
  type = object({
    prefix = string
    days   = number
  })
  default = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds objects."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

# The broker on ECS on EC2: one instance with an EBS volume for --data-dir.

variable "create_broker" {
  description = "Create the ECS cluster, EC2 instance, EBS data volume, task definition and service. false: only the bucket, the broker policy and the task role (e.g. for EKS with the Helm chart)."
  type        = bool
  default     = true
}

variable "image" {
  description = "Strata container image (built from deploy/docker/Dockerfile and pushed, e.g. to ECR), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/strata:v0.1.0. Required with create_broker."
  type        = string
  default     = ""
}

variable "subnet_id" {
  description = "Subnet of the broker instance (private is best; the instance needs a route to ECS, ECR, CloudWatch Logs and S3, e.g. through a NAT gateway or VPC endpoints). Required with create_broker."
  type        = string
  default     = ""
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks that may reach Kafka (9092) and HTTP (9644, /metrics). The listener is plaintext and unauthenticated: keep this to trusted networks."
  type        = list(string)
  default     = []
}

variable "instance_type" {
  description = "EC2 instance type of the broker host (x86_64; use an arm64 image with a Graviton type and ami_ssm_parameter)."
  type        = string
  default     = "m6i.large"
}

variable "ami_ssm_parameter" {
  description = "SSM parameter holding the ECS-optimized AMI ID."
  type        = string
  default     = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

variable "data_volume_size_gb" {
  description = "Size of the EBS volume mounted at the broker's --data-dir: the write buffer and recent tail. Keep local-budget-bytes well below it."
  type        = number
  default     = 100
}

variable "data_volume_type" {
  description = "EBS volume type of the data volume."
  type        = string
  default     = "gp3"
}

variable "task_cpu" {
  description = "CPU units of the broker task (1024 = one vCPU)."
  type        = number
  default     = 1536
}

variable "task_memory" {
  description = "Memory of the broker task in MiB."
  type        = number
  default     = 6144
}

variable "strata_args" {
  description = "Extra `strata serve` flags, e.g. [\"--segment-ms=5m\", \"--local-budget-bytes=50GiB\"]. The module sets --listen, --http-listen, --advertised-addr, --data-dir, --bucket and --log-format."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the broker's CloudWatch log group."
  type        = number
  default     = 30
}
