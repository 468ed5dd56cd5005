# The gateway VM image: Debian with Docker, the cloud CLIs the boot script uses to read secrets and to
# end the VM at its expiry, jq, and the gateway container pre-pulled, so a gateway starts in seconds.
# Build one per cloud: packer build -var gateway_image=ghcr.io/OWNER/skyplane-gateway:TAG -only 'amazon-ebs.gateway' .
packer {
  required_plugins {
    amazon = { source = "github.com/hashicorp/amazon", version = ">= 1.3.0" }
  }
}

variable "gateway_image" { type = string }
variable "region" {
  type    = string
  default = "us-east-1"
}

source "amazon-ebs" "gateway" {
  region        = var.region
  instance_type = "m5.large"
  ssh_username  = "admin"
  ami_name      = "skyplane-gateway-{{timestamp}}"
  source_ami_filter {
    filters     = { name = "debian-12-amd64-*", virtualization-type = "hvm" }
    owners      = ["136693071363"] # Debian
    most_recent = true
  }
  tags = { skyplane = "gateway-image" }
}

build {
  sources = ["source.amazon-ebs.gateway"]
  provisioner "shell" {
    inline = [
      "sudo apt-get update",
      "sudo apt-get install -y docker.io jq awscli cloud-init",
      "sudo systemctl enable docker",
      "sudo docker pull ${var.gateway_image}",
    ]
  }
}
