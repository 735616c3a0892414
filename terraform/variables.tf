# --- where and what ------------------------------------------------------------

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]+$", var.region))
    error_message = "region must be an AWS region name such as \"us-east-1\" or \"eu-central-1\"."
  }
}

variable "name" {
  description = "Name prefix of every resource, and the value of the tag by which Prometheus finds the fleet's instances. At most 24 characters so that load balancer and target group names fit."
  type        = string
  default     = "smart-api"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name))
    error_message = "name must be 2-24 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "deployment_mode" {
  description = "\"single\": one instance runs the whole compose stack (service, simulator, Prometheus, Grafana). \"fleet\": an auto scaling group of service instances behind an application load balancer, plus one monitoring instance."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["single", "fleet"], var.deployment_mode)
    error_message = "deployment_mode must be \"single\" or \"fleet\"."
  }
}

variable "tags" {
  description = "Extra tags for every resource (Project, Deployment and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}

# --- the source and the service ------------------------------------------------

variable "git_url" {
  description = "HTTPS URL of the smart-api Git repository that the instances clone and build (it must be readable without credentials)."
  type        = string

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?/[^\\s'\"\\\\$`]+$", var.git_url))
    error_message = "git_url must be an https:// URL without spaces, quotes, backslashes, backticks or dollar signs, e.g. \"https://git.example.com/team/smart-api.git\"."
  }
}

variable "git_ref" {
  description = "Branch, tag or commit of git_url to deploy."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$", var.git_ref)) && !strcontains(var.git_ref, "..")
    error_message = "git_ref must be a branch, tag or commit: letters, digits, '.', '_', '/' and '-', not starting with a punctuation character and without \"..\"."
  }
}

variable "upstream_url" {
  description = "SMART_UPSTREAM_URL of the service. The default is the simulator bundled in the compose stack; set the real work API to leave the simulator out of the fleet."
  type        = string
  default     = "http://upstream-sim:9000/api/work"

  validation {
    condition     = can(regex("^https?://[^\\s'\"\\\\$`]+$", var.upstream_url))
    error_message = "upstream_url must be an http:// or https:// URL without spaces, quotes, backslashes, backticks or dollar signs."
  }
}

variable "grafana_admin_password" {
  description = "Password of Grafana's \"admin\" user (applied when Grafana first creates its database). Not stored in the repository: pass it with TF_VAR_grafana_admin_password."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.grafana_admin_password) >= 12
    error_message = "grafana_admin_password must be at least 12 characters long."
  }

  validation {
    condition     = can(regex("^[^'\r\n]+$", var.grafana_admin_password))
    error_message = "grafana_admin_password must not contain single quotes or line breaks."
  }
}

# --- instances -------------------------------------------------------------------

variable "instance_type" {
  description = "EC2 instance type of the service instances (the single instance, or each fleet instance). x86_64 only: the image is Debian's amd64 AMI."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type)) && !can(regex("^([a-z]+[0-9]+g[a-z0-9-]*|a1)\\.", var.instance_type))
    error_message = "instance_type must be an x86_64 instance type such as \"t3.micro\" or \"t3.small\" (Graviton types like \"t4g.micro\" do not run the amd64 image)."
  }
}

variable "monitoring_instance_type" {
  description = "EC2 instance type of the monitoring instance (Prometheus and Grafana) in fleet mode."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.monitoring_instance_type)) && !can(regex("^([a-z]+[0-9]+g[a-z0-9-]*|a1)\\.", var.monitoring_instance_type))
    error_message = "monitoring_instance_type must be an x86_64 instance type such as \"t3.micro\"."
  }
}

variable "ami_id" {
  description = "AMI to use instead of the latest official Debian 12 amd64 image (it must be Debian 12 or compatible: apt and systemd). Pin it to keep instances from being replaced when Debian publishes a new image."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or an AMI id such as \"ami-0123456789abcdef0\"."
  }
}

variable "key_name" {
  description = "Name of an existing EC2 key pair for SSH (user \"admin\"). null: no key pair. SSH is reachable only from ssh_cidrs."
  type        = string
  default     = null

  validation {
    condition     = var.key_name == null || can(regex("^\\S.{0,254}$", var.key_name))
    error_message = "key_name must be null or the name of an EC2 key pair."
  }
}

variable "root_volume_size_gib" {
  description = "Size of each instance's encrypted gp3 root volume, in GiB (the image build needs about 6 GiB besides the system and the swap file)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size_gib >= 16 && var.root_volume_size_gib <= 1024 && floor(var.root_volume_size_gib) == var.root_volume_size_gib
    error_message = "root_volume_size_gib must be a whole number from 16 to 1024."
  }
}

variable "swap_size_mib" {
  description = "Swap file on the service instances, in MiB: the image build runs two compiler processes of about 1.2 GB each, more than a t3.micro's 1 GiB of memory. 0: no swap file."
  type        = number
  default     = 4096

  validation {
    condition     = var.swap_size_mib >= 0 && var.swap_size_mib <= 16384 && floor(var.swap_size_mib) == var.swap_size_mib
    error_message = "swap_size_mib must be a whole number from 0 to 16384."
  }
}

# --- network and access ------------------------------------------------------------

variable "vpc_cidr" {
  description = "IPv4 range of the dedicated VPC (between /16 and /24); each public subnet takes a sixteenth of it."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "vpc_cidr must be an IPv4 CIDR block from /16 to /24, e.g. \"10.42.0.0/16\"."
  }
}

variable "az_count" {
  description = "Number of availability zones (one public subnet in each); the load balancer needs at least two."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 2 to 6."
  }
}

variable "allowed_cidrs" {
  description = "Networks that may call the service: port 8000 of the instance in single mode, port 80 of the load balancer in fleet mode."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.allowed_cidrs : can(cidrhost(c, 0)) && try(cidrsubnet(c, 0, 0) == c, false)])
    error_message = "allowed_cidrs must hold CIDR blocks in canonical form, e.g. \"203.0.113.0/24\" (not \"203.0.113.7/24\")."
  }
}

variable "admin_cidrs" {
  description = "Networks that may reach Grafana (3000) and Prometheus (9090). Empty (the default): both are closed."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && try(cidrsubnet(c, 0, 0) == c, false)])
    error_message = "admin_cidrs must hold CIDR blocks in canonical form, e.g. \"203.0.113.7/32\"."
  }

  validation {
    condition     = !anytrue([for c in var.admin_cidrs : contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "admin_cidrs must not contain \"0.0.0.0/0\" or \"::/0\": Prometheus has no login, and Grafana's must not face the whole internet."
  }
}

variable "ssh_cidrs" {
  description = "Networks that may reach SSH (22). Empty (the default): no SSH rule at all."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_cidrs : can(cidrhost(c, 0)) && try(cidrsubnet(c, 0, 0) == c, false)])
    error_message = "ssh_cidrs must hold CIDR blocks in canonical form, e.g. \"203.0.113.7/32\"."
  }

  validation {
    condition     = !anytrue([for c in var.ssh_cidrs : contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "ssh_cidrs must not contain \"0.0.0.0/0\" or \"::/0\": SSH is opened to chosen networks only."
  }
}

# --- fleet mode ------------------------------------------------------------------------

variable "fleet_min_size" {
  description = "Fleet mode: fewest service instances."
  type        = number
  default     = 2

  validation {
    condition     = var.fleet_min_size >= 1 && var.fleet_min_size <= 50 && floor(var.fleet_min_size) == var.fleet_min_size
    error_message = "fleet_min_size must be a whole number from 1 to 50."
  }
}

variable "fleet_max_size" {
  description = "Fleet mode: most service instances the scaling policy may run."
  type        = number
  default     = 4

  validation {
    condition     = var.fleet_max_size >= 1 && var.fleet_max_size <= 50 && floor(var.fleet_max_size) == var.fleet_max_size
    error_message = "fleet_max_size must be a whole number from 1 to 50."
  }
}

variable "fleet_desired_capacity" {
  description = "Fleet mode: service instances at creation; from then on the scaling policy sets the number (Terraform ignores later drift)."
  type        = number
  default     = 2

  validation {
    condition     = var.fleet_desired_capacity >= 1 && var.fleet_desired_capacity <= 50 && floor(var.fleet_desired_capacity) == var.fleet_desired_capacity
    error_message = "fleet_desired_capacity must be a whole number from 1 to 50."
  }
}

variable "scaling_metric" {
  description = "Fleet mode: what target tracking keeps at its target: \"requests\" (ALBRequestCountPerTarget, requests per instance per minute) or \"cpu\" (average CPU utilisation)."
  type        = string
  default     = "requests"

  validation {
    condition     = contains(["requests", "cpu"], var.scaling_metric)
    error_message = "scaling_metric must be \"requests\" or \"cpu\"."
  }
}

variable "scaling_requests_per_target" {
  description = "Fleet mode, scaling_metric = \"requests\": requests per instance per minute to keep (6000 is 100 requests/s)."
  type        = number
  default     = 6000

  validation {
    condition     = var.scaling_requests_per_target >= 10 && var.scaling_requests_per_target <= 1000000
    error_message = "scaling_requests_per_target must be from 10 to 1000000."
  }
}

variable "scaling_cpu_percent" {
  description = "Fleet mode, scaling_metric = \"cpu\": average CPU utilisation (percent) to keep."
  type        = number
  default     = 60

  validation {
    condition     = var.scaling_cpu_percent >= 10 && var.scaling_cpu_percent <= 90
    error_message = "scaling_cpu_percent must be from 10 to 90."
  }
}

variable "health_check_grace_period" {
  description = "Fleet mode: seconds a new instance has before failed load balancer health checks get it replaced. Each instance builds the images on first boot: about 15-30 minutes on a t3.micro."
  type        = number
  default     = 2400

  validation {
    condition     = var.health_check_grace_period >= 300 && var.health_check_grace_period <= 7200
    error_message = "health_check_grace_period must be from 300 to 7200 seconds."
  }
}
