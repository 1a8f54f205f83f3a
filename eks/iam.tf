# Least privilege, no credentials anywhere: every AWS identity a pod gets comes from IRSA
# (a projected, audience-bound ServiceAccount token exchanged with STS), trusted only for one
# namespace/ServiceAccount pair of this cluster's OIDC provider.
#
#   consumer  -> write the table (conditional PutItem + the GetItem of its merge); primary region only
#   frontend  -> read the table (GetItem) and its GSI (Query); primary and replica region
#   producer  -> no AWS permissions (no role at all)
#   operator  -> no AWS permissions (no role at all; it only talks to the Kubernetes API)
#
# No DynamoDB action or resource below is a wildcard; eks/tests/test_terraform.py enforces it.

locals {
  oidc_provider     = module.eks.oidc_provider
  oidc_provider_arn = module.eks.oidc_provider_arn

  # Exactly the DynamoDB calls of workloads/store (Store::upsert for the consumer; Store::get and
  # Store::query_window for the frontend), plus DescribeTable for readiness checks.
  #   consumer: upsert = conditional PutItem; after a failed condition it may GetItem (strongly
  #             consistent) the current item to merge the revision history: a read of the table is
  #             part of the write protocol. No Query, no Scan, nothing on the index.
  #   frontend: GetItem (one event) on the table, Query on the by_day index. No Scan, no writes.
  consumer_table_actions = [
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
  ]
  frontend_table_actions = [
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
  ]
  frontend_index_actions = [
    "dynamodb:Query",
  ]
}

# Trust policy: this cluster's OIDC provider, audience sts.amazonaws.com, one ServiceAccount.
data "aws_iam_policy_document" "irsa_trust" {
  for_each = toset(["consumer", "frontend"])

  statement {
    sid     = "IrsaFor${title(each.key)}"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_provider}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${local.service_accounts[each.key]}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_provider}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

# --- consumer: write the primary table only ---------------------------------------------------

data "aws_iam_policy_document" "consumer" {
  statement {
    sid       = "WriteQuakesTable"
    effect    = "Allow"
    actions   = local.consumer_table_actions
    resources = [local.table_arn]
  }
}

resource "aws_iam_role" "consumer" {
  name                 = "${var.name}-consumer"
  description          = "QuakeStream consumer (${var.namespace}/${local.service_accounts.consumer}): writes DynamoDB ${var.table_name}"
  assume_role_policy   = data.aws_iam_policy_document.irsa_trust["consumer"].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "consumer" {
  name   = "dynamodb-write-${var.table_name}"
  role   = aws_iam_role.consumer.id
  policy = data.aws_iam_policy_document.consumer.json
}

# --- frontend: read the table and its index ---------------------------------------------------

data "aws_iam_policy_document" "frontend" {
  statement {
    sid       = "ReadQuakesTable"
    effect    = "Allow"
    actions   = local.frontend_table_actions
    resources = concat([local.table_arn], local.replica_table_arns)
  }

  statement {
    sid     = "QueryQuakesByDay"
    effect  = "Allow"
    actions = local.frontend_index_actions
    resources = [
      for arn in concat([local.table_arn], local.replica_table_arns) : "${arn}/index/${local.table.gsi_name}"
    ]
  }
}

resource "aws_iam_role" "frontend" {
  name                 = "${var.name}-frontend"
  description          = "QuakeStream frontend (${var.namespace}/${local.service_accounts.frontend}): reads DynamoDB ${var.table_name}"
  assume_role_policy   = data.aws_iam_policy_document.irsa_trust["frontend"].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "frontend" {
  name   = "dynamodb-read-${var.table_name}"
  role   = aws_iam_role.frontend.id
  policy = data.aws_iam_policy_document.frontend.json
}

# --- cluster add-ons (pinned community module; AWS-published policies) ------------------------

module "ebs_csi_irsa" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.59.0"

  role_name             = "${var.name}-ebs-csi"
  attach_ebs_csi_policy = true

  oidc_providers = {
    main = {
      provider_arn               = local.oidc_provider_arn
      namespace_service_accounts = ["kube-system:ebs-csi-controller-sa"]
    }
  }
}

module "lb_controller_irsa" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.59.0"

  role_name                              = "${var.name}-aws-load-balancer-controller"
  attach_load_balancer_controller_policy = true

  oidc_providers = {
    main = {
      provider_arn               = local.oidc_provider_arn
      namespace_service_accounts = ["kube-system:aws-load-balancer-controller"]
    }
  }
}

# external-dns may only change records in the one hosted zone (created only with route53_zone_id).
module "external_dns_irsa" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.59.0"
  count   = var.route53_zone_id == "" ? 0 : 1

  role_name                     = "${var.name}-external-dns"
  attach_external_dns_policy    = true
  external_dns_hosted_zone_arns = ["arn:${local.partition}:route53:::hostedzone/${var.route53_zone_id}"]

  oidc_providers = {
    main = {
      provider_arn               = local.oidc_provider_arn
      namespace_service_accounts = ["external-dns:external-dns"]
    }
  }
}
