terraform {
  # 1.9+ for cross-variable validation rules.
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.95"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.37"
    }
    # The Grafana login's first temporary password (cognito.tf).
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }

  # State: configure a remote backend for real use, for example
  #   backend "s3" { bucket = "my-tf-state" key = "quakestream/eks.tfstate" region = "eu-west-1" use_lockfile = true }
  # with `terraform init -backend-config=...`. Local state is the default so that a first try needs nothing.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

# Both Kubernetes-facing providers authenticate with a short-lived token from `aws eks get-token`
# (no static credentials, no kubeconfig file needed).
provider "kubernetes" {
  host                   = module.eks.cluster_endpoint
  cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
  }
}

provider "helm" {
  kubernetes {
    host                   = module.eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
    }
  }
}
