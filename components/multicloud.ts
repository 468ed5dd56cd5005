import * as pulumi from "@pulumi/pulumi";
import type { Topology } from "../planner/topology";
import { parseStoreUri } from "../stores";
import { AwsDataplane } from "./aws";
import { AzureDataplane } from "./azure";
import type { GatewayEndpoint } from "./cloud";
import { GcpDataplane } from "./gcp";
import type { ProvisionedGateway } from "./local";

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
  /** Minutes from boot to expiry; default 120. */
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

/** Bucket names of one cloud among store URIs (for Azure, container names: an azure URI's bucket is ACCOUNT/CONTAINER). */
export function bucketsOn(cloud: Cloud, uris: readonly string[]): string[] {
  const scheme = { aws: "s3", gcp: "gs", azure: "azure" }[cloud];
  return [
    ...new Set(
      uris
        .map((u) => parseStoreUri(u))
        .filter((u) => u.scheme === scheme)
        .map((u) => (cloud === "azure" ? u.bucket.slice(u.bucket.indexOf("/") + 1) : u.bucket)),
    ),
  ].sort();
}

/**
 * Every gateway of a topology on AWS, GCP and Azure: one dataplane component per cloud, each given the
 * other clouds' gateway addresses (firewall peers and send targets), so a multi-cloud route is one stack.
 */
export class CloudDataplanes extends pulumi.ComponentResource {
  /** Where the runner reaches each gateway, in topology order. */
  readonly gateways: pulumi.Output<ProvisionedGateway[]>;

  constructor(
    name: string,
    args: {
      topology: Topology;
      settings: CloudSettings;
      token: pulumi.Input<string>;
      key: pulumi.Input<string>;
    },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("skyplane:cloud:Dataplanes", name, {}, opts);
    const { topology, settings } = args;
    const foreign = topology.gateways.filter(
      (g) => !(CLOUDS as readonly string[]).includes(g.provider),
    );
    if (foreign.length > 0)
      throw new pulumi.ResourceError(
        `gateways ${foreign.map((g) => g.id).join(", ")} are not on a cloud: a route cannot mix the local cloud and AWS, GCP or Azure`,
        this,
      );
    const missing = missingCloudSettings(topology, settings);
    if (missing.length > 0)
      throw new pulumi.ResourceError(
        `the stack config skyplane:cloud lacks ${missing.join(", ")}: set each with ` +
          `pulumi config set --path 'skyplane:cloud.${missing[0]}' VALUE (see stacks/README.md)`,
        this,
      );
    const common = {
      topology,
      token: args.token,
      key: args.key,
      clientCidr: settings.clientCidr,
      expireAt: settings.expireAt,
      ttlMinutes: settings.ttlMinutes,
      sshCidr: settings.sshCidr,
    };
    const image = settings.containerImage ?? DEFAULT_CONTAINER_IMAGE;
    const byId = (eps: pulumi.Output<GatewayEndpoint[]>) =>
      eps.apply((list) => Object.fromEntries(list.map((g) => [g.id, g.host])));
    const clouds = cloudsOf(topology);
    // Each cloud needs the others' addresses, which exist only once they are allocated: deferred outputs
    // break the cycle (addresses never depend on firewalls or programs, so there is no real one).
    const deferred = new Map(
      clouds.map((c) => [c, pulumi.deferredOutput<Record<string, string>>()]),
    );
    const remotePeers = (cloud: Cloud) => {
      const others = clouds
        .filter((c) => c !== cloud)
        .map((c) => deferred.get(c)?.[0] as pulumi.Output<Record<string, string>>);
      return pulumi
        .all(others)
        .apply((maps) => Object.assign({}, ...maps) as Record<string, string>);
    };
    const buckets = (cloud: Cloud) => ({
      read: bucketsOn(cloud, settings.buckets.read),
      write: bucketsOn(cloud, settings.buckets.write),
    });
    const endpoints: pulumi.Output<GatewayEndpoint[]>[] = [];
    for (const cloud of clouds) {
      const child = { parent: this };
      let dp: AwsDataplane | GcpDataplane | AzureDataplane;
      if (cloud === "aws") {
        dp = new AwsDataplane(
          `${name}-aws`,
          {
            ...common,
            remotePeers: remotePeers(cloud),
            amis: settings.aws?.amis ?? {},
            image,
            readBuckets: buckets(cloud).read,
            writeBuckets: buckets(cloud).write,
          },
          child,
        );
      } else if (cloud === "gcp") {
        const gcp = settings.gcp as NonNullable<CloudSettings["gcp"]>;
        dp = new GcpDataplane(
          `${name}-gcp`,
          {
            ...common,
            remotePeers: remotePeers(cloud),
            project: gcp.project,
            image: gcp.image,
            containerImage: image,
            readBuckets: buckets(cloud).read,
            writeBuckets: buckets(cloud).write,
          },
          child,
        );
      } else {
        const az = settings.azure as NonNullable<CloudSettings["azure"]>;
        dp = new AzureDataplane(
          `${name}-azure`,
          {
            ...common,
            remotePeers: remotePeers(cloud),
            subscriptionId: az.subscriptionId,
            tenantId: az.tenantId,
            imageId: az.imageId,
            storageAccountId: az.storageAccountId,
            sshPublicKey: az.sshPublicKey,
            containerImage: image,
            readContainers: buckets(cloud).read,
            writeContainers: buckets(cloud).write,
          },
          child,
        );
      }
      deferred.get(cloud)?.[1](byId(dp.gateways));
      endpoints.push(dp.gateways);
    }
    this.gateways = pulumi.all(endpoints).apply((lists) => {
      const hosts = new Map(lists.flat().map((e) => [e.id, e]));
      return topology.gateways.map((spec) => {
        const e = hosts.get(spec.id) as GatewayEndpoint;
        return {
          id: spec.id,
          region: spec.region,
          source: spec.program.operators.some((o) => o.op === "read_object_store"),
          host: e.host,
          controlPort: e.controlPort,
          dataPort: e.dataPort,
          logFile: `the serial console of ${spec.id} (${spec.region})`,
        };
      });
    });
    this.registerOutputs({ gateways: this.gateways });
  }
}
