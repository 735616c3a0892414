# Fleet mode: the monitoring instance's Prometheus lists the service instances
# through the EC2 API (ec2_sd_configs), with the instance profile's temporary
# credentials. Read-only, and nothing else: the other instances have no role.

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "prometheus_discovery" {
  statement {
    sid = "DiscoverScrapeTargets"
    # DescribeInstances takes no resource-level restriction; the zones call
    # lets Prometheus label targets with their zone id.
    actions = [
      "ec2:DescribeInstances",
      "ec2:DescribeAvailabilityZones",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role" "monitoring" {
  count = local.fleet ? 1 : 0

  # IAM names are global to the account: the region keeps two deployments apart.
  name               = "${var.name}-monitoring-${var.region}"
  description        = "smart-api monitoring instance: Prometheus EC2 service discovery"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy" "prometheus_discovery" {
  count = local.fleet ? 1 : 0

  name   = "prometheus-ec2-discovery"
  role   = aws_iam_role.monitoring[0].id
  policy = data.aws_iam_policy_document.prometheus_discovery.json
}

resource "aws_iam_instance_profile" "monitoring" {
  count = local.fleet ? 1 : 0

  name = "${var.name}-monitoring-${var.region}"
  role = aws_iam_role.monitoring[0].name
}
