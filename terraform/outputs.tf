locals {
  # Where the service answers: the instance's port 8000, or the load balancer's port 80.
  service_base_url = local.single ? "http://${aws_instance.single[0].public_ip}:${local.service_port}" : "http://${aws_lb.fleet[0].dns_name}"
  # The host of Prometheus and Grafana.
  admin_host = local.single ? aws_instance.single[0].public_ip : aws_instance.monitoring[0].public_ip
}

output "deployment_mode" {
  description = "The mode deployed: single or fleet."
  value       = var.deployment_mode
}

output "api_smart_url" {
  description = "The hedged request endpoint, with a 1.5 s deadline. It answers once the bootstrap has built and started the service (15-30 minutes after the first apply)."
  value       = "${local.service_base_url}/api/smart?timeout=1500"
}

output "service_url" {
  description = "Base URL of the service (documentation page at /, health at /healthz, metrics at /metrics)."
  value       = local.service_base_url
}

output "grafana_url" {
  description = "Grafana (user admin, password: var.grafana_admin_password). Reachable only from admin_cidrs."
  value       = "http://${local.admin_host}:3000"
}

output "prometheus_url" {
  description = "Prometheus (alerts at /alerts). Reachable only from admin_cidrs."
  value       = "http://${local.admin_host}:9090"
}

output "instance_id" {
  description = "Single mode: id of the instance running the whole stack (null in fleet mode)."
  value       = local.single ? aws_instance.single[0].id : null
}

output "instance_public_ip" {
  description = "Single mode: public address of the instance (null in fleet mode)."
  value       = local.single ? aws_instance.single[0].public_ip : null
}

output "monitoring_instance_id" {
  description = "Fleet mode: id of the Prometheus and Grafana instance (null in single mode)."
  value       = local.fleet ? aws_instance.monitoring[0].id : null
}

output "monitoring_public_ip" {
  description = "Fleet mode: public address of the monitoring instance (null in single mode)."
  value       = local.fleet ? aws_instance.monitoring[0].public_ip : null
}

output "alb_dns_name" {
  description = "Fleet mode: DNS name of the load balancer (null in single mode)."
  value       = local.fleet ? aws_lb.fleet[0].dns_name : null
}

output "alb_arn" {
  description = "Fleet mode: ARN of the load balancer (null in single mode)."
  value       = local.fleet ? aws_lb.fleet[0].arn : null
}

output "target_group_arn" {
  description = "Fleet mode: ARN of the target group (health check GET /healthz) (null in single mode)."
  value       = local.fleet ? aws_lb_target_group.service[0].arn : null
}

output "autoscaling_group_name" {
  description = "Fleet mode: name of the auto scaling group of service instances (null in single mode)."
  value       = local.fleet ? aws_autoscaling_group.fleet[0].name : null
}

output "vpc_id" {
  description = "Id of the dedicated VPC."
  value       = aws_vpc.this.id
}

output "ssh_command" {
  description = "SSH to the single or monitoring instance (needs key_name and ssh_cidrs); null without a key pair."
  value       = var.key_name == null ? null : "ssh admin@${local.admin_host}"
}

output "bootstrap_log" {
  description = "Where each instance logs its bootstrap (also in the EC2 console: Actions > Monitor > Get system log)."
  value       = "/var/log/smart-api-bootstrap.log"
}
