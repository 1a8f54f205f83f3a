data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  # Three AZs: one Kafka broker (and its EBS volume) per AZ.
  azs = slice(data.aws_availability_zones.available.names, 0, 3)

  tags = merge(
    {
      "app.kubernetes.io/part-of" = "quakestream"
      "quakestream.io/deployment" = var.name
      "managed-by"                = "terraform"
    },
    var.tags,
  )

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # The ServiceAccounts the operator creates for a QuakeStream named var.quakestream_name
  # (operator/src/builders.rs: child_name = "<name>-<component>"). IRSA trust is scoped to exactly these.
  service_accounts = {
    producer = "${var.quakestream_name}-producer"
    consumer = "${var.quakestream_name}-consumer"
    frontend = "${var.quakestream_name}-frontend"
  }
}
