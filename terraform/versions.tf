terraform {
  # 1.5: strcontains().
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region

  # On every resource that takes tags. Instances launched by the auto scaling
  # group get them through the launch template's tag_specifications instead.
  default_tags {
    tags = local.common_tags
  }
}
