# ---------------------------------------------------------------------------------------------
# Where and what to call it
# ---------------------------------------------------------------------------------------------

variable "name" {
  description = "Name of the deployment: the EKS cluster, the VPC and IAM roles are prefixed with it."
  type        = string
  default     = "quakestream"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and dashes."
  }
}

variable "region" {
  description = "AWS region of the cluster and of the primary DynamoDB table."
  type        = string
  default     = "eu-west-1"
}

variable "replica_region" {
  description = "Second region holding a DynamoDB global-table replica (read-only for QuakeStream: the consumer writes the primary only). Empty string: no replica."
  type        = string
  default     = "eu-central-1"

  validation {
    condition     = var.replica_region != var.region
    error_message = "replica_region must differ from region (or be empty for no replica)."
  }
}

variable "tags" {
  description = "Extra tags on every AWS resource."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------
# Network and cluster
# ---------------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR of the VPC; /16 leaves room for three /20 private and three /24 public subnets."
  type        = string
  default     = "10.42.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper; egress depends on one AZ). false = one per AZ."
  type        = bool
  default     = true
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.34"
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint (where `terraform apply` and kubectl run from)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "node_instance_types" {
  description = "Instance types of the managed node group (the first is used for the cost estimate)."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT for the managed node group."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.node_capacity_type)
    error_message = "node_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "node_count" {
  description = "Desired size of the node group. At least 3: one Kafka broker per AZ."
  type        = number
  default     = 3

  validation {
    condition     = var.node_count >= 3
    error_message = "node_count must be at least 3 (three Kafka brokers spread across three AZs)."
  }
}

variable "node_max_count" {
  description = "Maximum size of the node group (room for the frontend HPA, with a cluster autoscaler or Karpenter)."
  type        = number
  default     = 6
}

variable "node_disk_size_gb" {
  description = "Root volume of each node (images and logs; Kafka data is on its own EBS volumes)."
  type        = number
  default     = 40
}

# ---------------------------------------------------------------------------------------------
# DynamoDB
# ---------------------------------------------------------------------------------------------

variable "table_name" {
  description = "DynamoDB table name (`spec.storage.table` of the QuakeStream)."
  type        = string
  default     = "quakes"
}

variable "table_deletion_protection" {
  description = "Refuse to delete the table. Set false (and apply) before `terraform destroy`."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# Edge: DNS, TLS, WAF
# ---------------------------------------------------------------------------------------------

variable "domain_name" {
  description = "Host name of the live map, e.g. quakes.example.org."
  type        = string
}

variable "route53_zone_id" {
  description = "Route 53 public hosted zone containing domain_name. When set, the ACM certificate is DNS-validated there and external-dns creates the alias record for the ALB. Empty: bring your own certificate (acm_certificate_arn) and DNS record."
  type        = string
  default     = ""
}

variable "acm_certificate_arn" {
  description = "Existing ACM certificate (in var.region) for domain_name. Empty: Terraform requests one (needs route53_zone_id)."
  type        = string
  default     = ""

  validation {
    condition     = var.acm_certificate_arn != "" || var.route53_zone_id != ""
    error_message = "Set route53_zone_id (a certificate is requested and validated there) or acm_certificate_arn."
  }
}

variable "waf_rate_limit" {
  description = "Requests one client IP may make per waf_rate_window_seconds before WAF blocks it."
  type        = number
  default     = 500

  validation {
    condition     = var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be between 10 and 2,000,000,000 (WAFv2 limits)."
  }
}

variable "waf_rate_window_seconds" {
  description = "Evaluation window of the rate-based rule: 60, 120, 300 or 600 seconds."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 120, 300, 600], var.waf_rate_window_seconds)
    error_message = "waf_rate_window_seconds must be 60, 120, 300 or 600."
  }
}

# ---------------------------------------------------------------------------------------------
# In-cluster software
# ---------------------------------------------------------------------------------------------

variable "namespace" {
  description = "Namespace of the Kafka cluster and the QuakeStream (the Strimzi entity operator watches only its own namespace)."
  type        = string
  default     = "quakestream"
}

variable "quakestream_name" {
  description = "metadata.name of the QuakeStream; its ServiceAccounts are <name>-producer, <name>-consumer, <name>-frontend."
  type        = string
  default     = "quakestream"
}

variable "image_repository" {
  description = "Image of the data plane (`quakestream`)."
  type        = string
  default     = "ghcr.io/quakestream/quakestream"
}

variable "image_tag" {
  description = "Tag of the data-plane image; empty = the operator's own version."
  type        = string
  default     = ""
}

variable "operator_image_repository" {
  description = "Image of the operator (`quakestream-operator`)."
  type        = string
  default     = "ghcr.io/quakestream/quakestream-operator"
}

variable "operator_image_tag" {
  description = "Tag of the operator image; empty = the chart's appVersion."
  type        = string
  default     = ""
}

variable "kafka_cluster_name" {
  description = "Name of the Strimzi Kafka cluster (`spec.kafka.clusterName`)."
  type        = string
  default     = "quakestream"
}

variable "kafka_broker_volume_gb" {
  description = "gp3 volume per broker."
  type        = number
  default     = 20
}

variable "frontend_min_replicas" {
  description = "Frontend HPA minimum."
  type        = number
  default     = 2
}

variable "frontend_max_replicas" {
  description = "Frontend HPA maximum."
  type        = number
  default     = 10
}

variable "grafana_admin_password" {
  description = "Grafana admin password. Empty: the chart generates one into the Secret grafana/grafana (admin-password). Prefer TF_VAR_grafana_admin_password over a tfvars file."
  type        = string
  default     = ""
  sensitive   = true
}

variable "grafana_public" {
  description = "Expose Grafana through its own internet-facing ALB (with the same WAF ACL). false: reach it with kubectl port-forward."
  type        = bool
  default     = false
}

variable "loki_retention" {
  description = "How long Loki keeps logs."
  type        = string
  default     = "168h"
}

# Chart versions and repositories are pinned in deploy/pins.env (shared with scripts/kind-up.sh,
# because charts/values/*.yaml are written for those versions). These maps override single
# entries, e.g. chart_versions = { loki = "8.1.3" }.
variable "chart_versions" {
  description = "Overrides of the chart versions pinned in deploy/pins.env (keys: aws_load_balancer_controller, external_dns, strimzi, prometheus, loki, grafana, alloy)."
  type        = map(string)
  default     = {}
}

variable "chart_repositories" {
  description = "Overrides of the chart repositories pinned in deploy/pins.env (same keys as chart_versions)."
  type        = map(string)
  default     = {}
}
