# The login in front of Grafana (and so of the cost and operations dashboards) on EKS.
#
# With grafana_public = true, Grafana's Ingress joins the frontend's ALB (same group) at
# https://grafana.<domain_name>/, and the ALB authenticates every request with this Cognito user
# pool before it reaches Grafana: the load balancer's own authenticate-cognito action, which the
# AWS Load Balancer Controller configures from the Ingress annotations below. No code of ours is in
# the path. Grafana's own login (admin, or the Grafana users you add) stays on behind it. The map
# and its API stay public; their Ingress rules carry no auth annotations.
#
# The first user gets a random temporary password (a sensitive output; Cognito asks for a new one
# at the first sign-in). Adding users and signing out: docs/cost.md ("Login").
# With grafana_public = false there is no public Grafana and nothing here is created.

variable "grafana_login_username" {
  description = "Username of the first Cognito user of the Grafana login (when grafana_public)."
  type        = string
  default     = "grafana-admin"

  validation {
    condition     = can(regex("^[A-Za-z0-9._@-]{1,128}$", var.grafana_login_username))
    error_message = "grafana_login_username must be 1-128 letters, digits or ._@- characters."
  }
}

variable "grafana_login_email" {
  description = "Email of the first Cognito user (verified, used for password resets). Empty: none."
  type        = string
  default     = ""
}

variable "grafana_login_session_seconds" {
  description = "How long the ALB's authentication session cookie lasts (seconds; 60 to 604800)."
  type        = number
  default     = 3600

  validation {
    condition     = var.grafana_login_session_seconds >= 60 && var.grafana_login_session_seconds <= 604800
    error_message = "grafana_login_session_seconds must be between 60 and 604800 (the ALB's limits)."
  }
}

locals {
  # Cognito-hosted sign-in domain: <prefix>.auth.<region>.amazoncognito.com (unique per region;
  # the account id makes it unique, and it may not contain "aws", "amazon" or "cognito").
  grafana_login_domain = "${var.name}-grafana-${local.account_id}"
}

resource "aws_cognito_user_pool" "grafana" {
  count = var.grafana_public ? 1 : 0

  name = "${var.name}-grafana"

  # Only an administrator creates users: no self sign-up.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 7
  }

  # Users may add a TOTP app (Cognito's hosted sign-in offers it).
  mfa_configuration = "OPTIONAL"
  software_token_mfa_configuration {
    enabled = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  tags = {
    Name = "${var.name}-grafana"
  }
}

resource "aws_cognito_user_pool_domain" "grafana" {
  count = var.grafana_public ? 1 : 0

  domain       = local.grafana_login_domain
  user_pool_id = aws_cognito_user_pool.grafana[0].id
}

# The ALB is the OAuth client: authorization-code flow, a client secret, and the ALB's fixed
# callback path on Grafana's host.
resource "aws_cognito_user_pool_client" "grafana" {
  count = var.grafana_public ? 1 : 0

  name                                 = "${var.name}-grafana-alb"
  user_pool_id                         = aws_cognito_user_pool.grafana[0].id
  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = ["https://${local.grafana_host}/oauth2/idpresponse"]
  logout_urls                          = ["https://${local.grafana_host}/"]
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
}

resource "random_password" "grafana_login" {
  count = var.grafana_public ? 1 : 0

  length           = 20
  min_lower        = 1
  min_upper        = 1
  min_numeric      = 1
  min_special      = 1
  override_special = "!#%*-_=+"
}

resource "aws_cognito_user" "grafana" {
  count = var.grafana_public ? 1 : 0

  user_pool_id       = aws_cognito_user_pool.grafana[0].id
  username           = var.grafana_login_username
  temporary_password = random_password.grafana_login[0].result
  # No invitation email: the password is read from the Terraform output.
  message_action = "SUPPRESS"
  attributes = var.grafana_login_email == "" ? {} : {
    email          = var.grafana_login_email
    email_verified = "true"
  }
}

locals {
  # Annotations on Grafana's Ingress (helm.tf): the ALB's authenticate-cognito action.
  grafana_auth_annotations = var.grafana_public ? {
    "alb.ingress.kubernetes.io/auth-type" = "cognito"
    "alb.ingress.kubernetes.io/auth-idp-cognito" = jsonencode({
      userPoolARN      = aws_cognito_user_pool.grafana[0].arn
      userPoolClientID = aws_cognito_user_pool_client.grafana[0].id
      userPoolDomain   = aws_cognito_user_pool_domain.grafana[0].domain
    })
    "alb.ingress.kubernetes.io/auth-on-unauthenticated-request" = "authenticate"
    "alb.ingress.kubernetes.io/auth-scope"                      = "openid email"
    "alb.ingress.kubernetes.io/auth-session-cookie"             = "AWSELBAuthSessionCookie"
    "alb.ingress.kubernetes.io/auth-session-timeout"            = tostring(var.grafana_login_session_seconds)
  } : {}

  # Cognito's logout endpoint: ends the Cognito session and returns to Grafana (which then asks
  # for a new sign-in once the ALB's session cookie has expired or been cleared).
  grafana_logout_url = var.grafana_public ? "https://${local.grafana_login_domain}.auth.${var.region}.amazoncognito.com/logout?client_id=${aws_cognito_user_pool_client.grafana[0].id}&logout_uri=${urlencode("https://${local.grafana_host}/")}" : ""
}

output "grafana_login_username" {
  description = "The first user of the Grafana login (Cognito), when grafana_public."
  value       = var.grafana_public ? var.grafana_login_username : null
}

output "grafana_login_temporary_password" {
  description = "Temporary password of the first Grafana login user (changed at the first sign-in). Read it with the command in grafana_login_password_command."
  value       = var.grafana_public ? random_password.grafana_login[0].result : null
  sensitive   = true
}

output "grafana_login_password_command" {
  description = "Prints the first Grafana login user's temporary password."
  value       = "terraform output -raw grafana_login_temporary_password"
}

output "grafana_login_user_pool_id" {
  description = "Cognito user pool of the Grafana login (add users to it: docs/cost.md)."
  value       = var.grafana_public ? aws_cognito_user_pool.grafana[0].id : null
}

output "grafana_logout_url" {
  description = "Opens Cognito's logout endpoint for the Grafana login (then clear the ALB session cookie, or wait for it to expire)."
  value       = local.grafana_logout_url
}
