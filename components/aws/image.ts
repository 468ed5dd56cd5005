import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { parseRegion } from "../../common/regions";

/*
 * The stock image of an AWS gateway: Canonical's Ubuntu 24.04 LTS AMI of its region, looked up at `up`
 * (AMIs are regional). Canonical publishes them under its own account, named by release, architecture
 * and date: https://documentation.ubuntu.com/aws/aws-how-to/instances/find-ubuntu-images/
 */

/** Canonical's AWS account, the owner of the official Ubuntu AMIs. */
export const CANONICAL_OWNER = "099720109477";

/** The names of Canonical's Ubuntu 24.04 LTS (noble) amd64 server AMIs on gp3 volumes. */
export const UBUNTU_AMI_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";

/** The lookup of the newest Ubuntu 24.04 LTS AMI in an AWS region (e.g. us-east-1). */
export function ubuntuAmiQuery(region: string): aws.ec2.GetAmiArgs {
  return {
    region,
    owners: [CANONICAL_OWNER],
    mostRecent: true,
    filters: [
      { name: "name", values: [UBUNTU_AMI_NAME] },
      { name: "architecture", values: ["x86_64"] },
      { name: "virtualization-type", values: ["hvm"] },
      { name: "root-device-type", values: ["ebs"] },
    ],
  };
}

/**
 * The stock gateway AMI of a region id (aws:REGION), looked up through `provider` at `up`. A region where
 * Canonical publishes none fails with what to do about it, before the dataplane creates anything (the
 * dataplane's providers wait for every lookup).
 */
export function stockAmi(
  regionId: string,
  provider: aws.Provider,
  parent: pulumi.Resource,
): pulumi.Output<string> {
  const region = parseRegion(regionId).name;
  const found = aws.ec2.getAmi(ubuntuAmiQuery(region), { provider, parent }).then(
    (ami) => ami.id,
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      if (/returned no results/i.test(message))
        throw new pulumi.ResourceError(
          `no stock Ubuntu 24.04 LTS image in ${regionId} (Canonical's ${UBUNTU_AMI_NAME}): ` +
            `give a gateway AMI of your own with pulumi config set --path 'skyplane:cloud.aws.amis["${regionId}"]' AMI_ID, ` +
            "or route through another region",
          parent,
        );
      throw new pulumi.ResourceError(
        `looking up the stock Ubuntu image of ${regionId} failed: ${message}`,
        parent,
      );
    },
  );
  return pulumi.output(found);
}

/**
 * What the dataplane's providers wait for: every stock AMI lookup. A failed lookup fails it, so that no
 * resource made through those providers is created.
 */
export function afterLookups(
  amis: readonly pulumi.Input<string>[],
): pulumi.Output<pulumi.Resource[]> {
  return pulumi.all([...amis]).apply((): pulumi.Resource[] => []);
}
