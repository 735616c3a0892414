locals {
  single = var.deployment_mode == "single"
  fleet  = var.deployment_mode == "fleet"

  common_tags = merge(var.tags, {
    Project    = "smart-api"
    Deployment = var.name
    ManagedBy  = "terraform"
  })

  # The service port of the container (docker-compose.yml publishes 8000:8000).
  service_port = 8000

  # Prometheus in fleet mode finds the service instances by this tag.
  scrape_tag_key   = "smart-api-scrape"
  scrape_tag_value = var.name

  # Fleet instances run the bundled simulator only when the service is pointed
  # at it (the default); with a real upstream they run the service alone.
  run_simulator = can(regex("^http://upstream-sim[:/]", var.upstream_url))

  ami_id = coalesce(var.ami_id, data.aws_ami.debian.id)

  user_data_template = "${path.module}/templates/user_data.sh.tftpl"

  # Values every host's bootstrap needs; each role adds its own.
  user_data_common = {
    git_url       = var.git_url
    git_ref       = var.git_ref
    upstream_url  = var.upstream_url
    run_simulator = local.run_simulator ? "yes" : "no"
  }
}

data "aws_ami" "debian" {
  # Debian's official images (the Debian cloud team's account).
  owners      = ["136693071363"]
  most_recent = true

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }

  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }
}

# The image actually used (the override or Debian's latest): its root device
# name is where the launch template puts the encrypted root volume.
data "aws_ami" "selected" {
  filter {
    name   = "image-id"
    values = [local.ami_id]
  }
}
