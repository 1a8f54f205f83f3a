# VPC: nodes (and pods, with the VPC CNI) live in private subnets and reach the internet (EMSC,
# image registries) through NAT; the ALB lives in the public subnets. DynamoDB traffic goes through
# a free gateway endpoint instead of the NAT gateway.

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.21.0"

  name = var.name
  cidr = var.vpc_cidr
  azs  = local.azs

  # /20 private subnets (4k addresses each: the VPC CNI gives every pod a VPC address), /24 public.
  private_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i)]
  public_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 48 + i)]

  enable_nat_gateway     = true
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway
  enable_dns_hostnames   = true
  enable_dns_support     = true

  # Subnet discovery by the AWS Load Balancer Controller.
  public_subnet_tags = {
    "kubernetes.io/role/elb" = "1"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = "1"
  }
}

# Gateway endpoint: DynamoDB calls from the private subnets never touch the NAT gateway (no NAT
# data-processing charge) and never leave the AWS network.
resource "aws_vpc_endpoint" "dynamodb" {
  vpc_id            = module.vpc.vpc_id
  service_name      = "com.amazonaws.${var.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = module.vpc.private_route_table_ids

  tags = {
    Name = "${var.name}-dynamodb"
  }
}
