output "url" {
  description = "The live map (HTTPS; HTTP redirects here)."
  value       = "https://${var.domain_name}/"
}

output "grafana_url" {
  description = "Grafana: public address when grafana_public, otherwise the port-forward to run first."
  value       = var.grafana_public ? "https://${local.grafana_host}/" : "kubectl -n ${local.monitoring_namespace} port-forward svc/grafana 3000:80, then http://localhost:3000/"
}

output "grafana_admin_password_command" {
  description = "Prints the Grafana admin password (user admin)."
  value       = "kubectl -n ${local.monitoring_namespace} get secret grafana -o jsonpath='{.data.admin-password}' | base64 -d"
}

output "kubeconfig_command" {
  description = "Adds the cluster to ~/.kube/config."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "dns_record_hint" {
  description = "Without route53_zone_id, point domain_name at the ALB yourself (CNAME to this hostname)."
  value       = var.route53_zone_id == "" ? "kubectl -n ${var.namespace} get ingress ${local.service_accounts.frontend} -o jsonpath='{.status.loadBalancer.ingress[0].hostname}'" : "managed by external-dns in zone ${var.route53_zone_id}"
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "table_name" {
  description = "DynamoDB table (primary region = var.region)."
  value       = aws_dynamodb_table.quakes.name
}

output "table_arn" {
  description = "DynamoDB table ARN in the primary region."
  value       = aws_dynamodb_table.quakes.arn
}

output "table_replica_arns" {
  description = "Global-table replica ARNs (read-only for QuakeStream)."
  value       = local.replica_table_arns
}

output "consumer_role_arn" {
  description = "IRSA role of the consumer (write the table)."
  value       = aws_iam_role.consumer.arn
}

output "frontend_role_arn" {
  description = "IRSA role of the frontend (read the table and its index)."
  value       = aws_iam_role.frontend.arn
}

output "waf_web_acl_arn" {
  description = "WAFv2 web ACL attached to the ALB."
  value       = aws_wafv2_web_acl.frontend.arn
}
