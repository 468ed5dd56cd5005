import { PROVIDER_SCHEMES, bucketUri, splitStoreUri, UriParts } from "../common/schemes";
import { UserError } from "../errors";
import type { Topology } from "./topology";

/*
 * The settings of a cloud route's stack (`skyplane:cloud`) and their checks: a contract like the
 * Topology, between the runner (which assembles and checks them before it brings a stack up), an
 * operator who sets them by hand (stacks/README.md), and components/multicloud.ts (which builds from them).
 */

/** The clouds this program provisions gateways on, besides the local cloud. */
export const CLOUDS = ["aws", "gcp", "azure"] as const;
/** One of them. */
export type Cloud = (typeof CLOUDS)[number];

/** The published gateway container image the VM images pull by default. */
export const DEFAULT_CONTAINER_IMAGE = "ghcr.io/skyplane-pulumi/gateway:0.1.0";

/**
 * What a route's stack needs, besides its topology and secrets, to put gateways on the clouds: the
 * stack config `skyplane:cloud` (set once per route with `pulumi config set --path`, or by the runner).
 */
export interface CloudSettings {
  /** The client's public address as a CIDR (e.g. 203.0.113.7/32): the only source the control API admits. */
  clientCidr: string;
  /** Buckets the gateways read and write, as store URIs (s3://…, gs://…, azure://ACCOUNT/CONTAINER). */
  buckets: { read: string[]; write: string[] };
  /** Epoch ms at which every gateway ends itself. */
  expireAt: number;
  /** Minutes from provisioning to expiry; default CLOUD_TTL_MINUTES (common/ttl.ts). */
  ttlMinutes?: number;
  /** The gateway container image; default DEFAULT_CONTAINER_IMAGE. */
  containerImage?: string;
  /** A CIDR allowed to SSH in; default none (SSH closed). */
  sshCidr?: string;
  /** AWS: the gateway AMI of each region id (built with gateway-image/vm-image.pkr.hcl). */
  aws?: { amis: Record<string, string> };
  /** GCP: the project and the gateway VM image. */
  gcp?: { project: string; image: string };
  /** Azure: subscription, tenant, VM image, the storage account of the containers, and the SSH key Azure requires. */
  azure?: {
    subscriptionId: string;
    tenantId: string;
    imageId: string;
    storageAccountId: string;
    sshPublicKey: string;
  };
}

/** Config paths a topology needs in `skyplane:cloud` that `settings` lacks, e.g. `aws.amis["aws:us-east-1"]`. */
export function missingCloudSettings(
  topology: Topology,
  settings: Partial<CloudSettings> | undefined,
): string[] {
  const s = settings ?? {};
  const missing: string[] = [];
  if (!s.clientCidr) missing.push("clientCidr");
  if (!s.buckets) missing.push("buckets");
  if (!s.expireAt) missing.push("expireAt");
  const clouds = cloudsOf(topology);
  if (clouds.includes("aws")) {
    const regions = [
      ...new Set(topology.gateways.filter((g) => g.provider === "aws").map((g) => g.region)),
    ];
    for (const r of regions.sort()) if (!s.aws?.amis?.[r]) missing.push(`aws.amis["${r}"]`);
  }
  if (clouds.includes("gcp")) {
    if (!s.gcp?.project) missing.push("gcp.project");
    if (!s.gcp?.image) missing.push("gcp.image");
  }
  if (clouds.includes("azure")) {
    for (const k of [
      "subscriptionId",
      "tenantId",
      "imageId",
      "storageAccountId",
      "sshPublicKey",
    ] as const)
      if (!s.azure?.[k]) missing.push(`azure.${k}`);
  }
  return missing;
}

/** The clouds a topology's gateways are on, in a fixed order. */
export function cloudsOf(topology: Topology): Cloud[] {
  const providers = new Set(topology.gateways.map((g) => g.provider));
  return CLOUDS.filter((c) => providers.has(c));
}

/** A store URI of `buckets`, taken apart; a malformed one is a UserError saying what is wrong. */
function bucketOf(uri: string): UriParts {
  const parts = splitStoreUri(uri);
  if ("problem" in parts)
    throw new UserError("INVALID_URI", `skyplane:cloud buckets: ${parts.problem}`);
  return parts;
}

/** The bucket URIs of store URIs (`s3://b/some/key` → `s3://b`), as chunk requests name them. */
export function bucketUris(uris: readonly string[]): string[] {
  return [...new Set(uris.map((u) => bucketUri(bucketOf(u))))].sort();
}

/** Bucket names of one cloud among store URIs (for Azure, container names: an azure URI's bucket is ACCOUNT/CONTAINER). */
export function bucketsOn(cloud: Cloud, uris: readonly string[]): string[] {
  const scheme = PROVIDER_SCHEMES[cloud];
  return [
    ...new Set(
      uris
        .map(bucketOf)
        .filter((u) => u.scheme === scheme)
        .map((u) => (cloud === "azure" ? u.bucket.slice(u.bucket.indexOf("/") + 1) : u.bucket)),
    ),
  ].sort();
}
