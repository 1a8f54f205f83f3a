# The edge: an internet-facing ALB created by the AWS Load Balancer Controller from the frontend
# Ingress (annotations in helm.tf), TLS with an ACM certificate, HTTP -> HTTPS redirect, and a
# WAFv2 web ACL (per-IP rate limit + AWS managed common rules) attached by annotation.

# --- TLS certificate ------------------------------------------------------------------------

resource "aws_acm_certificate" "frontend" {
  count = var.acm_certificate_arn == "" ? 1 : 0

  domain_name               = var.domain_name
  subject_alternative_names = var.grafana_public ? ["grafana.${var.domain_name}"] : []
  validation_method         = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  # Empty when no certificate is requested (splat over the counted resource, never an index).
  for_each = {
    for o in flatten([for c in aws_acm_certificate.frontend : c.domain_validation_options]) : o.domain_name => {
      name   = o.resource_record_name
      type   = o.resource_record_type
      record = o.resource_record_value
    }
  }

  zone_id         = var.route53_zone_id
  name            = each.value.name
  type            = each.value.type
  records         = [each.value.record]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "frontend" {
  count = var.acm_certificate_arn == "" ? 1 : 0

  certificate_arn         = aws_acm_certificate.frontend[count.index].arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

locals {
  # The validated certificate (waits for validation before the Ingress references it).
  certificate_arn = coalesce(var.acm_certificate_arn, one(aws_acm_certificate_validation.frontend[*].certificate_arn))
}

# --- WAF --------------------------------------------------------------------------------------

resource "aws_wafv2_web_acl" "frontend" {
  name        = "${var.name}-frontend"
  description = "QuakeStream edge: per-IP rate limit and AWS managed common rules"
  scope       = "REGIONAL" # attached to the ALB

  default_action {
    allow {}
  }

  # 1. Per-IP rate limit: more than waf_rate_limit requests in waf_rate_window_seconds -> blocked with HTTP 429.
  rule {
    name     = "per-ip-rate-limit"
    priority = 10

    action {
      block {
        custom_response {
          response_code = 429
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_rate_limit
        evaluation_window_sec = var.waf_rate_window_seconds
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-per-ip-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  # 2. AWS managed common rule set (OWASP-style: bad inputs, XSS, LFI, oversized bodies...).
  rule {
    name     = "aws-common-rule-set"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-common-rule-set"
      sampled_requests_enabled   = true
    }
  }

  # 3. Known bad inputs (Log4Shell-style payloads etc.): free with the ACL, no WCU concerns.
  rule {
    name     = "aws-known-bad-inputs"
    priority = 30

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-frontend"
    sampled_requests_enabled   = true
  }
}

# --- Ingress annotations for the AWS Load Balancer Controller -----------------------------------

locals {
  alb_group = var.name

  # Annotations on the frontend Ingress the operator builds (spec.frontend.ingress.annotations).
  frontend_ingress_annotations = {
    "alb.ingress.kubernetes.io/scheme"          = "internet-facing"
    "alb.ingress.kubernetes.io/target-type"     = "ip"
    "alb.ingress.kubernetes.io/group.name"      = local.alb_group
    "alb.ingress.kubernetes.io/listen-ports"    = jsonencode([{ HTTP = 80 }, { HTTPS = 443 }])
    "alb.ingress.kubernetes.io/ssl-redirect"    = "443"
    "alb.ingress.kubernetes.io/certificate-arn" = local.certificate_arn
    # TLS 1.3, and TLS 1.2 with forward-secret AEAD ciphers only (ECDHE with AES-GCM): the map is
    # public, and a 1.3-only policy (ELBSecurityPolicy-TLS13-1-3-2021-06) would shut out clients
    # without TLS 1.3 (Android 9 and older, older embedded browsers, TLS-inspecting proxies).
    # docs/security.md, "Edge".
    "alb.ingress.kubernetes.io/ssl-policy"       = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    "alb.ingress.kubernetes.io/wafv2-acl-arn"    = aws_wafv2_web_acl.frontend.arn
    "alb.ingress.kubernetes.io/healthcheck-path" = "/readyz"
    # Server-Sent Events: keep idle streams open longer than the default 60 s between heartbeats.
    "alb.ingress.kubernetes.io/load-balancer-attributes" = "idle_timeout.timeout_seconds=300,routing.http.drop_invalid_header_fields.enabled=true"
  }
}
