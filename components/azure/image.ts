/*
 * The stock image of an Azure gateway: Canonical's Ubuntu 24.04 LTS marketplace image, its newest version
 * resolved by Azure when the VM is created (a marketplace image is published in every public region).
 * https://documentation.ubuntu.com/azure/azure-how-to/instances/find-ubuntu-images/
 */

/** The marketplace reference of Canonical's Ubuntu 24.04 LTS server image (Gen2, amd64). */
export const UBUNTU_IMAGE = {
  publisher: "Canonical",
  offer: "ubuntu-24_04-lts",
  sku: "server",
  version: "latest",
} as const;
