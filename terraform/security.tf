# Security groups, attached to instances, the launch template and the load
# balancer by id. Every rule is its own resource, one per port and network:
#
#   admin           the host of Prometheus and Grafana (the single instance, or
#                   the monitoring instance): 3000 and 9090 from admin_cidrs,
#                   22 from ssh_cidrs; all egress.
#   single_service  single mode: 8000 from allowed_cidrs.
#   alb             fleet mode: 80 from allowed_cidrs; egress to the fleet on 8000.
#   fleet           fleet mode: 8000 from the load balancer and from Prometheus,
#                   22 from ssh_cidrs; all egress.
#
# An empty CIDR list makes no rule at all: the port stays closed.

# --- admin: Prometheus, Grafana, SSH -------------------------------------------

resource "aws_security_group" "admin" {
  name        = "${var.name}-admin"
  description = "smart-api: Grafana and Prometheus from admin networks, SSH from chosen networks"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-admin" }
}

resource "aws_vpc_security_group_ingress_rule" "admin_grafana" {
  for_each = toset(var.admin_cidrs)

  security_group_id = aws_security_group.admin.id
  description       = "Grafana from an admin network"
  ip_protocol       = "tcp"
  from_port         = 3000
  to_port           = 3000
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

resource "aws_vpc_security_group_ingress_rule" "admin_prometheus" {
  for_each = toset(var.admin_cidrs)

  security_group_id = aws_security_group.admin.id
  description       = "Prometheus from an admin network"
  ip_protocol       = "tcp"
  from_port         = 9090
  to_port           = 9090
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

resource "aws_vpc_security_group_ingress_rule" "admin_ssh" {
  for_each = toset(var.ssh_cidrs)

  security_group_id = aws_security_group.admin.id
  description       = "SSH from a chosen network"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

resource "aws_vpc_security_group_egress_rule" "admin_all_ipv4" {
  security_group_id = aws_security_group.admin.id
  description       = "Packages, images, the Git repository, the EC2 API"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

# --- single mode: the service port of the instance -------------------------------

resource "aws_security_group" "single_service" {
  count = local.single ? 1 : 0

  name        = "${var.name}-service"
  description = "smart-api: the service port from allowed networks"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-service" }
}

resource "aws_vpc_security_group_ingress_rule" "single_service" {
  for_each = local.single ? toset(var.allowed_cidrs) : toset([])

  security_group_id = aws_security_group.single_service[0].id
  description       = "smart-api from an allowed network"
  ip_protocol       = "tcp"
  from_port         = 8000
  to_port           = 8000
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

# --- fleet mode: the load balancer --------------------------------------------------

resource "aws_security_group" "alb" {
  count = local.fleet ? 1 : 0

  name        = "${var.name}-alb"
  description = "smart-api load balancer: HTTP from allowed networks"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = local.fleet ? toset(var.allowed_cidrs) : toset([])

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTP from an allowed network"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

resource "aws_vpc_security_group_egress_rule" "alb_to_fleet" {
  count = local.fleet ? 1 : 0

  security_group_id            = aws_security_group.alb[0].id
  description                  = "Requests and health checks to the service instances"
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
  referenced_security_group_id = aws_security_group.fleet[0].id
}

# --- fleet mode: the service instances --------------------------------------------

resource "aws_security_group" "fleet" {
  count = local.fleet ? 1 : 0

  name        = "${var.name}-fleet"
  description = "smart-api service instances: 8000 from the load balancer and Prometheus only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-fleet" }
}

resource "aws_vpc_security_group_ingress_rule" "fleet_from_alb" {
  count = local.fleet ? 1 : 0

  security_group_id            = aws_security_group.fleet[0].id
  description                  = "smart-api from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
  referenced_security_group_id = aws_security_group.alb[0].id
}

resource "aws_vpc_security_group_ingress_rule" "fleet_from_prometheus" {
  count = local.fleet ? 1 : 0

  security_group_id            = aws_security_group.fleet[0].id
  description                  = "/metrics scraped by Prometheus on the monitoring instance"
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
  referenced_security_group_id = aws_security_group.admin.id
}

resource "aws_vpc_security_group_ingress_rule" "fleet_ssh" {
  for_each = local.fleet ? toset(var.ssh_cidrs) : toset([])

  security_group_id = aws_security_group.fleet[0].id
  description       = "SSH from a chosen network"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

resource "aws_vpc_security_group_egress_rule" "fleet_all_ipv4" {
  count = local.fleet ? 1 : 0

  security_group_id = aws_security_group.fleet[0].id
  description       = "Packages, images, the Git repository, the upstream"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}
