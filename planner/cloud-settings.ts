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

/**
 * What a route's stack needs, besides its topology and secrets, to put gateways on the clouds: the
 * stack config `skyplane:cloud` (set once per route with `pulumi config set --path`, or by the runner).
 * No image is needed: by default every gateway boots the cloud's stock Ubuntu LTS image, looked up at
 * `up`, and fetches the gateway bundle and a pinned Node runtime at boot (components/cloud.ts). A user's
 * own image (`aws.amis`, `gcp.image`, `azure.imageId`) stays an option, with the Node on it (`node`).
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
  /** A CIDR allowed to SSH in; default none (SSH closed). */
  sshCidr?: string;
  /**
   * AWS, all optional: your own gateway AMI per region id instead of Canonical's Ubuntu 24.04 LTS
   * (`amis`), and the Node binary on it (`node`, e.g. /usr/bin/node; default the pinned Node runtime,
   * fetched at boot).
   */
  aws?: { amis?: Record<string, string>; node?: string };
  /** GCP: the project (default: the credentials'), and optionally your own VM image and the Node on it. */
  gcp?: { project: string; image?: string; node?: string };
  /**
   * Azure: subscription and tenant (default: the credentials'), the storage account of the containers
   * the gateways read or write (when they do), the SSH key Azure requires of a Linux VM (default: a key
   * made for the stack, whose private half is never kept), and optionally your own VM image and the Node
   * on it.
   */
  azure?: {
    subscriptionId: string;
    tenantId: string;
    storageAccountId?: string;
    sshPublicKey: string;
    imageId?: string;
    node?: string;
  };
}

/**
 * Config paths a topology needs in `skyplane:cloud` that `settings` lacks, e.g. `gcp.project`. Images are
 * never needed, but a Node path on your own image (`aws.node`) needs that image in every region.
 */
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
  if (clouds.includes("aws") && s.aws?.node) {
    const regions = [
      ...new Set(topology.gateways.filter((g) => g.provider === "aws").map((g) => g.region)),
    ];
    for (const r of regions.sort()) if (!s.aws.amis?.[r]) missing.push(`aws.amis["${r}"]`);
  }
  if (clouds.includes("gcp")) {
    if (!s.gcp?.project) missing.push("gcp.project");
    if (s.gcp?.node && !s.gcp.image) missing.push("gcp.image");
  }
  if (clouds.includes("azure")) {
    for (const k of ["subscriptionId", "tenantId", "sshPublicKey"] as const)
      if (!s.azure?.[k]) missing.push(`azure.${k}`);
    const containers = [...(s.buckets?.read ?? []), ...(s.buckets?.write ?? [])];
    if (!s.azure?.storageAccountId && bucketsOn("azure", containers).length > 0)
      missing.push("azure.storageAccountId");
    if (s.azure?.node && !s.azure.imageId) missing.push("azure.imageId");
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
