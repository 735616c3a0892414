# Fleet mode: a small instance runs Prometheus and Grafana from the compose file
# (no service, no simulator). Prometheus gets its configuration from
# templates/prometheus.yml.tftpl: EC2 service discovery of the fleet by tag,
# and the repository's alert rules.

locals {
  prometheus_fleet_config = templatefile("${path.module}/templates/prometheus.yml.tftpl", {
    region           = var.region
    service_port     = local.service_port
    scrape_tag_key   = local.scrape_tag_key
    scrape_tag_value = local.scrape_tag_value
  })
}

resource "aws_instance" "monitoring" {
  count = local.fleet ? 1 : 0

  ami                    = local.ami_id
  instance_type          = var.monitoring_instance_type
  key_name               = var.key_name
  subnet_id              = aws_subnet.public[0].id
  iam_instance_profile   = aws_iam_instance_profile.monitoring[0].name
  vpc_security_group_ids = [aws_security_group.admin.id]

  user_data = templatefile(local.user_data_template, merge(local.user_data_common, {
    role                       = "monitoring"
    swap_size_mib              = min(var.swap_size_mib, 1024)
    grafana_admin_password_b64 = base64encode(var.grafana_admin_password)
    prometheus_config_b64      = base64encode(local.prometheus_fleet_config)
  }))
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
    # Prometheus calls the metadata service for its credentials from inside a
    # container: one hop more than the host.
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gib
    encrypted             = true
    delete_on_termination = true
  }

  tags        = { Name = "${var.name}-monitoring", Role = "monitoring" }
  volume_tags = merge(local.common_tags, { Name = "${var.name}-monitoring" })

  lifecycle {
    ignore_changes = [ami]
  }
}
