# EKS control plane and one managed node group spread over the three private subnets.
#
# Identity for pods: IRSA (IAM roles for service accounts). The QuakeStream CRD already carries
# `serviceAccount.roleArn` per workload and the operator writes it as the
# `eks.amazonaws.com/role-arn` annotation, so IRSA needs nothing outside the QuakeStream and works
# unchanged on any cluster with an OIDC provider. (EKS Pod Identity would need an association per
# ServiceAccount created outside the resource, and its agent add-on; it is not installed.)

module "eks" {
  source  = "terraform-aws-modules/eks/aws"
  version = "20.37.1"

  cluster_name    = var.name
  cluster_version = var.kubernetes_version

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  cluster_endpoint_public_access       = true
  cluster_endpoint_private_access      = true
  cluster_endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs

  # The identity running `terraform apply` becomes a cluster admin through an access entry
  # (no aws-auth ConfigMap).
  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = true

  # IRSA: creates the cluster's IAM OIDC provider.
  enable_irsa = true

  # Control-plane logs cost CloudWatch ingestion; keep audit + authenticator only.
  cluster_enabled_log_types              = ["audit", "authenticator"]
  cloudwatch_log_group_retention_in_days = 7

  cluster_addons = {
    vpc-cni = {
      most_recent    = true
      before_compute = true
      # Enforce the NetworkPolicies the operator creates (off by default in the VPC CNI).
      configuration_values = jsonencode({
        enableNetworkPolicy = "true"
      })
    }
    coredns = {
      most_recent = true
    }
    kube-proxy = {
      most_recent = true
    }
    # The HPA of the frontend reads CPU/memory from the resource metrics API.
    metrics-server = {
      most_recent = true
    }
    # Kafka broker volumes (gp3, see helm.tf) are provisioned by the EBS CSI driver.
    aws-ebs-csi-driver = {
      most_recent              = true
      service_account_role_arn = module.ebs_csi_irsa.iam_role_arn
    }
  }

  eks_managed_node_groups = {
    default = {
      name           = "${var.name}-default"
      instance_types = var.node_instance_types
      capacity_type  = var.node_capacity_type
      ami_type       = "AL2023_x86_64_STANDARD"

      min_size     = 3
      desired_size = var.node_count
      max_size     = max(var.node_max_count, var.node_count)

      # Root volume (images, container logs). Kafka data is on separate EBS volumes.
      block_device_mappings = {
        xvda = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = var.node_disk_size_gb
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }

      # Pods get credentials through IRSA only. A hop limit of 1 keeps pods (which are not on the
      # host network) from reaching IMDS and borrowing the node role; that is why the load
      # balancer controller is given its region and VPC ID explicitly (helm.tf).
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }

      labels = {
        "quakestream.io/pool" = "default"
      }
    }
  }

  tags = local.tags
}
