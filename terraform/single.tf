# Single mode: one instance runs the whole compose stack of the repository
# (api, upstream-sim, Prometheus with the repository's configuration, Grafana).

resource "aws_instance" "single" {
  count = local.single ? 1 : 0

  ami           = local.ami_id
  instance_type = var.instance_type
  key_name      = var.key_name
  subnet_id     = aws_subnet.public[0].id

  vpc_security_group_ids = [
    aws_security_group.single_service[0].id,
    aws_security_group.admin.id,
  ]

  user_data = templatefile(local.user_data_template, merge(local.user_data_common, {
    role                       = "single"
    swap_size_mib              = var.swap_size_mib
    grafana_admin_password_b64 = base64encode(var.grafana_admin_password)
    prometheus_config_b64      = ""
  }))
  # cloud-init runs user data on the first boot only: a changed bootstrap (a
  # new git_ref, say) takes a new instance.
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gib
    encrypted             = true
    delete_on_termination = true
  }

  tags        = { Name = var.name, Role = "single" }
  volume_tags = merge(local.common_tags, { Name = var.name })

  lifecycle {
    # A newer Debian image is not a reason to replace a running instance; set
    # ami_id (or taint the instance) to move to another image.
    ignore_changes = [ami]
  }
}
