import * as compute from "@pulumi/gcp/compute";
import * as pulumi from "@pulumi/pulumi";

/*
 * The stock image of a GCP gateway: the newest image of Canonical's Ubuntu 24.04 LTS family in the public
 * `ubuntu-os-cloud` project, looked up at `up` (images are global: one lookup serves every zone).
 * https://cloud.google.com/compute/docs/images/os-details#ubuntu_lts
 */

/** Canonical's public image project on GCP. */
export const UBUNTU_PROJECT = "ubuntu-os-cloud";

/** The family of Ubuntu 24.04 LTS (noble) amd64 images. */
export const UBUNTU_FAMILY = "ubuntu-2404-lts-amd64";

/** The stock gateway image (its self link), looked up at `up`; a failed lookup says what to do. */
export function stockImage(parent: pulumi.Resource): pulumi.Output<string> {
  const found = compute
    .getImage({ family: UBUNTU_FAMILY, project: UBUNTU_PROJECT }, { parent })
    .then(
      (image) => image.selfLink,
      (err: unknown) => {
        throw new pulumi.ResourceError(
          `looking up the stock image (family ${UBUNTU_FAMILY} of ${UBUNTU_PROJECT}) failed: ` +
            `${err instanceof Error ? err.message : String(err)}; or give an image of your own with ` +
            "pulumi config set --path 'skyplane:cloud.gcp.image' IMAGE",
          parent,
        );
      },
    );
  return pulumi.output(found);
}
