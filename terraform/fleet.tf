# Fleet mode: service instances from a launch template in an auto scaling group
# spread over the public subnets, behind an application load balancer.
#
#   client --80--> ALB --8000--> instance: api (+ upstream-sim when upstream_url
#                                is the bundled simulator, the default)
#
# Each instance builds the images from git_url at git_ref on its first boot;
# the load balancer sends it traffic once /healthz answers 200.

resource "aws_launch_template" "fleet" {
  count = local.fleet ? 1 : 0

  name                   = "${var.name}-service"
  description            = "smart-api service instance"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  key_name               = var.key_name
  vpc_security_group_ids = [aws_security_group.fleet[0].id]
  update_default_version = true

  user_data = base64encode(templatefile(local.user_data_template, merge(local.user_data_common, {
    role                       = "service"
    swap_size_mib              = var.swap_size_mib
    grafana_admin_password_b64 = ""
    prometheus_config_b64      = ""
  })))

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = data.aws_ami.selected.root_device_name

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size_gib
      encrypted             = true
      delete_on_termination = true
    }
  }

  # One-minute CloudWatch metrics, for target tracking on CPU only.
  monitoring {
    enabled = var.scaling_metric == "cpu"
  }

  tag_specifications {
    resource_type = "instance"
    tags = merge(local.common_tags, {
      Name                   = "${var.name}-service"
      Role                   = "service"
      (local.scrape_tag_key) = local.scrape_tag_value
    })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.common_tags, { Name = "${var.name}-service" })
  }
}

resource "aws_lb" "fleet" {
  count = local.fleet ? 1 : 0

  name                       = "${var.name}-alb"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb[0].id]
  subnets                    = aws_subnet.public[*].id
  drop_invalid_header_fields = true
  # A request may last up to the service's --max-timeout-ms (60 s) without a
  # byte on the wire; 70 s covers it and stays below the service's 75 s
  # keep-alive timeout, so the balancer never reuses a connection the service
  # has just closed.
  idle_timeout = 70

  tags = { Name = "${var.name}-alb" }
}

resource "aws_lb_target_group" "service" {
  count = local.fleet ? 1 : 0

  name        = "${var.name}-svc"
  vpc_id      = aws_vpc.this.id
  target_type = "instance"
  protocol    = "HTTP"
  port        = local.service_port
  # On scale-in the service finishes the requests it has read (at most 60 s
  # each) before the instance goes.
  deregistration_delay = 70

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = { Name = "${var.name}-svc" }
}

resource "aws_lb_listener" "http" {
  count = local.fleet ? 1 : 0

  load_balancer_arn = aws_lb.fleet[0].arn
  protocol          = "HTTP"
  port              = 80

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service[0].arn
  }
}

resource "aws_autoscaling_group" "fleet" {
  count = local.fleet ? 1 : 0

  name                = "${var.name}-service"
  vpc_zone_identifier = aws_subnet.public[*].id
  target_group_arns   = [aws_lb_target_group.service[0].arn]

  min_size         = var.fleet_min_size
  max_size         = var.fleet_max_size
  desired_capacity = var.fleet_desired_capacity

  # An instance that stops answering /healthz is replaced, but only after the
  # grace period that its first-boot build needs.
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period
  default_instance_warmup   = var.health_check_grace_period
  # Do not hold `terraform apply` for the builds: the outputs say where to look.
  wait_for_capacity_timeout = "0"

  launch_template {
    id      = aws_launch_template.fleet[0].id
    version = aws_launch_template.fleet[0].latest_version
  }

  # A new launch template version (another git_ref, instance type, ...) rolls
  # through the fleet, keeping at least half of it serving.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 50
      instance_warmup        = var.health_check_grace_period
    }
  }

  lifecycle {
    # After creation the scaling policy owns the number of instances.
    ignore_changes = [desired_capacity]

    precondition {
      condition     = var.fleet_min_size <= var.fleet_desired_capacity && var.fleet_desired_capacity <= var.fleet_max_size
      error_message = "Fleet sizes must satisfy fleet_min_size <= fleet_desired_capacity <= fleet_max_size."
    }
  }
}

resource "aws_autoscaling_policy" "fleet" {
  count = local.fleet ? 1 : 0

  name                   = "${var.name}-target-tracking"
  autoscaling_group_name = aws_autoscaling_group.fleet[0].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.scaling_metric == "requests" ? var.scaling_requests_per_target : var.scaling_cpu_percent

    predefined_metric_specification {
      predefined_metric_type = var.scaling_metric == "requests" ? "ALBRequestCountPerTarget" : "ASGAverageCPUUtilization"
      resource_label         = var.scaling_metric == "requests" ? "${aws_lb.fleet[0].arn_suffix}/${aws_lb_target_group.service[0].arn_suffix}" : null
    }
  }

  # The request count per target exists once the listener ties the target
  # group to the load balancer.
  depends_on = [aws_lb_listener.http]
}
