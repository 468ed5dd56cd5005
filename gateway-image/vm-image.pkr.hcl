# An AWS gateway image of your own: optional. By default gateways boot Canonical's stock Ubuntu 24.04 LTS
# AMI and fetch the pinned Node.js release at boot (components/aws/image.ts, gateway-image/node-runtime.ts).
# This recipe bakes that same release into that same Ubuntu, under /opt/node, checked by the sha256 that
# nodejs.org publishes, so that a gateway skips the download. Build one per region, then give it to the
# route's stack (test/gateway-image/vm-image.test.ts keeps the pins below equal to the runner's):
#   packer build -var region=us-east-1 gateway-image/vm-image.pkr.hcl
#   skyplane:cloud  aws.amis["aws:us-east-1"] = <the AMI>   aws.node = /opt/node/bin/node
packer {
  required_plugins {
    amazon = { source = "github.com/hashicorp/amazon", version = ">= 1.3.0" }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}
variable "node_version" {
  type    = string
  default = "v20.20.2"
}
variable "node_sha256" {
  type    = string
  default = "df770b2a6f130ed8627c9782c988fda9669fa23898329a61a871e32f965e007d"
}

source "amazon-ebs" "gateway" {
  region        = var.region
  instance_type = "m5.large"
  ssh_username  = "ubuntu"
  ami_name      = "skyplane-gateway-{{timestamp}}"
  source_ami_filter {
    filters     = { name = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*", virtualization-type = "hvm" }
    owners      = ["099720109477"] # Canonical
    most_recent = true
  }
  tags = { skyplane = "gateway-image" }
}

build {
  sources = ["source.amazon-ebs.gateway"]
  provisioner "shell" {
    inline = [
      "curl -fsSLo /tmp/node.tar.xz https://nodejs.org/dist/${var.node_version}/node-${var.node_version}-linux-x64.tar.xz",
      "echo '${var.node_sha256}  /tmp/node.tar.xz' | sha256sum -c -",
      "sudo mkdir -p /opt/node",
      "sudo tar -xJf /tmp/node.tar.xz -C /opt/node --strip-components=1 --no-same-owner",
      "rm /tmp/node.tar.xz",
      "/opt/node/bin/node --version",
    ]
  }
}
