import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { CLOUD_TTL_MINUTES } from "../common/ttl";
import { BootSpec, NodeSource, renderBootScript, SecretRef } from "../gateway-image/boot";
import { bindProgram, GatewayProgram, sendTargets } from "../planner/program";
import { GatewaySpec, routeStackName, Topology } from "../planner/topology";
import type { Cloud } from "../planner/cloud-settings";
import { GatewayOutputs, gatewayOutputs } from "./gateway";
import { UserError } from "../errors";

/*
 * What the AWS, GCP and Azure dataplanes share: the arguments every cloud takes, where the runner reaches a
 * gateway, the one-provider check, the private address plan of the i-th region, and the one flow that
 * builds a dataplane (`CloudDataplane`), into which each cloud plugs only what is its own (`CloudParts`).
 */

/** Arguments every cloud dataplane takes. */
export interface CloudDataplaneArgs {
  /** The planned topology; every gateway on this cloud. */
  topology: Topology;
  /** The dataplane token (a secret). */
  token: pulumi.Input<string>;
  /** The dataplane key, base64 (a secret). */
  key: pulumi.Input<string>;
  /** The client's address as a CIDR, e.g. 203.0.113.7/32: it alone reaches the control API. */
  clientCidr: pulumi.Input<string>;
  /** Epoch ms at which every gateway ends itself. */
  expireAt: number;
  /** Minutes from provisioning to expiry. Default CLOUD_TTL_MINUTES. */
  ttlMinutes?: number;
  /** Control API port. Default 8080. */
  controlPort?: number;
  /** Data port. Default 8081. */
  dataPort?: number;
  /** A CIDR allowed to SSH in; default none. */
  sshCidr?: pulumi.Input<string>;
  /**
   * Public addresses of the topology's gateways on other clouds, by gateway id (a multi-cloud route):
   * they become firewall peers and send targets. Default none: every gateway is on this cloud.
   */
  remotePeers?: pulumi.Input<Record<string, string>>;
  /**
   * The gateway bundle (gateway-image/bundle.ts): the stack uploads it to this cloud's artifacts bucket,
   * and every gateway fetches it at boot and checks its sha256.
   */
  bundle: GatewayBundleFile;
  /** The pinned Node runtime a gateway fetches at boot, unless it boots an image of yours with a Node on it. */
  nodeRuntime: { url: string; sha256: string };
  /** Buckets on this cloud the gateways read, by name (on Azure: container names). */
  readBuckets: string[];
  /** Buckets on this cloud the gateways write, by name (on Azure: container names). */
  writeBuckets: string[];
}

/** What every cloud dataplane derives the same way from its arguments. */
export function dataplaneDefaults(args: CloudDataplaneArgs): {
  route: string;
  controlPort: number;
  dataPort: number;
  ttlMinutes: number;
} {
  return {
    route: routeStackName(args.topology.route.src, args.topology.route.dsts),
    controlPort: args.controlPort ?? 8080,
    dataPort: args.dataPort ?? 8081,
    ttlMinutes: args.ttlMinutes ?? CLOUD_TTL_MINUTES,
  };
}

/** The gateway bundle a stack uploads: the built tarball and its sha256 (as gatewayBundle() gives them). */
export interface GatewayBundleFile {
  /** The tarball on this machine. */
  readonly path: string;
  /** Its sha256, hex. */
  readonly sha256: string;
}

/** What a gateway's boot script is told of the bundle: where it is, and the sha256 it must have. */
export type BootBundle = BootSpec["bundle"];

/**
 * The folder of the artifacts bucket that holds one bundle, named by its sha256: the gateways may read
 * exactly this prefix, and a new bundle is a new object under a new prefix.
 */
export function bundlePrefix(bundle: GatewayBundleFile): string {
  if (!/^[0-9a-f]{64}$/.test(bundle.sha256))
    throw new pulumi.InputPropertyError({
      propertyPath: "bundle.sha256",
      reason: `"${bundle.sha256}" is not a sha256 (64 lowercase hex digits): build the bundle with npm run build`,
    });
  return `skyplane-gateway/${bundle.sha256}/`;
}

/** The key (object name) of a bundle in an artifacts bucket: its prefix and the tarball's file name. */
export function bundleKey(bundle: GatewayBundleFile): string {
  return bundlePrefix(bundle) + path.basename(bundle.path);
}

/**
 * The Node a gateway runs: the Node on an image of yours when you name its path, else the pinned release
 * tarball (which an image of yours needs curl, tar and xz to fetch, like the stock one).
 */
export function nodeSource(
  runtime: { url: string; sha256: string },
  onImage: string | undefined,
): NodeSource {
  return onImage ? { fromImage: onImage } : { url: runtime.url, sha256: runtime.sha256 };
}

/** Where the runner reaches a gateway. */
export interface GatewayEndpoint {
  id: string;
  region: string;
  host: string;
  controlPort: number;
  dataPort: number;
}

/**
 * The topology's gateways on `provider`, which this cloud's dataplane materialises. Gateways on other
 * clouds must be given as `remotePeers`; a topology with none here is refused.
 */
export function cloudGateways(
  topology: Topology,
  provider: string,
  cloud: string,
  resource: pulumi.Resource,
): GatewaySpec[] {
  const own = topology.gateways.filter((g) => g.provider === provider);
  if (own.length === 0)
    throw new pulumi.ResourceError(
      `the ${cloud} dataplane has no gateways to run: the topology's are on ${[...new Set(topology.gateways.map((g) => g.provider))].join(", ")}`,
      resource,
    );
  return own;
}

/** Public addresses by gateway id: this cloud's own gateways, and every peer (own and other clouds'). */
export interface AddressBook {
  /** This cloud's gateways: where the runner reaches them (never waits on another cloud). */
  own: pulumi.Output<Record<string, string>>;
  /** Every gateway a gateway here may exchange data with: firewall peers and send targets. */
  peers: pulumi.Output<Record<string, string>>;
  /** The peers' addresses alone, as firewalls take them. */
  peerIps: pulumi.Output<string[]>;
}

/** The address book of a cloud's gateways given their addresses and, if any, other clouds'. */
export function addressBook(
  own: ReadonlyMap<string, pulumi.Input<string>>,
  remote?: pulumi.Input<Record<string, string>>,
): AddressBook {
  const ids = [...own.keys()];
  const mine = pulumi
    .all(ids.map((id) => own.get(id) as pulumi.Input<string>))
    .apply((hosts) => Object.fromEntries(ids.map((id, i) => [id, hosts[i]])));
  const peers = pulumi
    .all([mine, remote ?? {}])
    .apply(([hosts, others]) => ({ ...others, ...hosts }));
  return { own: mine, peers, peerIps: peers.apply((hosts) => Object.values(hosts)) };
}

/** A gateway's program with each send bound to its target's public address and data port. */
export function boundProgram(
  spec: GatewaySpec,
  peers: pulumi.Output<Record<string, string>>,
  dataPort: number,
): pulumi.Output<GatewayProgram> {
  return peers.apply((hosts) => {
    const missing = sendTargets(spec.program).filter((t) => !hosts[t]);
    if (missing.length > 0)
      throw new UserError(
        "MISSING_PEERS",
        `${spec.id} sends to ${missing.join(", ")} on another cloud: pass their addresses as remotePeers`,
      );
    return bindProgram(
      spec.program,
      Object.fromEntries(Object.entries(hosts).map(([id, host]) => [id, { host, port: dataPort }])),
    );
  });
}

/** Where the runner reaches each of `gateways`, in their order, given their own addresses. */
export function gatewayEndpoints(
  gateways: readonly GatewaySpec[],
  hosts: pulumi.Output<Record<string, string>>,
  controlPort: number,
  dataPort: number,
): pulumi.Output<GatewayEndpoint[]> {
  return hosts.apply((byId) =>
    gateways.map((g) => ({ id: g.id, region: g.region, host: byId[g.id], controlPort, dataPort })),
  );
}

/** The private network (/16) and subnet (/24) of the i-th region of a dataplane: 10.(100+i).0.0. */
export function regionCidrs(i: number): { network: string; subnet: string } {
  if (i < 0 || i > 99) throw new UserError("TOO_MANY_REGIONS", "at most 100 regions per dataplane");
  return { network: `10.${100 + i}.0.0/16`, subnet: `10.${100 + i}.0.0/24` };
}

/** What a gateway firewall admits, on every cloud; each cloud's firewall adds where it applies. */
export interface GatewayFirewallArgs {
  /** Every gateway's public address: peers may send to the data port. */
  peerIps: pulumi.Input<pulumi.Input<string>[]>;
  /** The client's address as a CIDR: it alone reaches the control port. */
  clientCidr: pulumi.Input<string>;
  /** Data port. */
  dataPort: number;
  /** Control API port. */
  controlPort: number;
  /** A CIDR allowed to SSH in; default none: SSH closed. */
  sshCidr?: pulumi.Input<string>;
}

/** One inbound rule of a gateway firewall: TCP to `port` from `sources` (CIDRs). */
export interface IngressRule {
  readonly name: "data" | "control" | "ssh";
  readonly port: number;
  readonly sources: string[];
}

/**
 * The inbound rules of every gateway firewall: the data port from peer gateways, the control port from
 * the client, SSH only from the CIDR asked for. Nothing else reaches a gateway.
 */
export function ingressRules(args: GatewayFirewallArgs): pulumi.Output<IngressRule[]> {
  return pulumi
    .all([args.peerIps, args.clientCidr, args.sshCidr])
    .apply(([peers, client, ssh]): IngressRule[] => [
      { name: "data", port: args.dataPort, sources: peers.map((ip) => `${ip}/32`) },
      { name: "control", port: args.controlPort, sources: [client] },
      ...(ssh ? [{ name: "ssh" as const, port: 22, sources: [ssh] }] : []),
    ]);
}

/** What a gateway VM takes on every cloud, by the same names; each cloud's gateway adds its own. */
export interface CloudGatewayArgs {
  /** Its program, send targets bound to peers' addresses. */
  program: pulumi.Input<GatewayProgram>;
  /** VM class, e.g. m5.8xlarge, n2-standard-32, Standard_D32_v5 (the topology's vmClass). */
  vmClass: string;
  /** The gateway bundle in this cloud's artifacts bucket, and its sha256: an input of the VM's boot script. */
  bundle: pulumi.Input<BootBundle>;
  /** Where its Node comes from. */
  node: NodeSource;
  /** Its static public address: what peers' firewalls admit and where the runner reaches it. */
  address: pulumi.Input<string>;
  /** Control API port. */
  controlPort: number;
  /** Data port. */
  dataPort: number;
  /** Epoch ms at which the VM ends itself. */
  expireAt: number;
  /** Its TTL in minutes, which the policy pack checks (the VM ends at expireAt). */
  ttlMinutes: number;
  /** Tags (on GCP: labels) of every resource it makes. */
  tags: Record<string, string>;
}

/** The boot script (cloud-init) of a cloud gateway VM, once its program and secret reference are known. */
export function gatewayBootScript(
  args: CloudGatewayArgs,
  secrets: pulumi.Input<SecretRef>,
): pulumi.Output<string> {
  return pulumi.all([args.program, secrets, args.bundle]).apply(([program, ref, bundle]) =>
    renderBootScript({
      program,
      secrets: ref as SecretRef,
      controlPort: args.controlPort,
      dataPort: args.dataPort,
      expireAt: args.expireAt,
      bundle: bundle as BootBundle,
      node: args.node,
    }),
  );
}

/**
 * A gateway VM on a cloud. Each cloud's gateway makes its VM (`vm`); every one registers the same outputs
 * (GatewayOutputs) and, as inputs for the policy pack, its tags and TTL, never secrets.
 */
export abstract class CloudGateway<A extends CloudGatewayArgs>
  extends pulumi.ComponentResource
  implements GatewayOutputs
{
  readonly instanceId: pulumi.Output<string>;
  readonly host: pulumi.Output<string>;
  readonly controlPort: pulumi.Output<number>;
  readonly dataPort: pulumi.Output<number>;

  constructor(type: string, name: string, args: A, opts?: pulumi.ComponentResourceOptions) {
    super(type, name, { tags: args.tags, ttlMinutes: args.ttlMinutes }, opts);
    this.instanceId = pulumi.output(this.vm(name, args));
    this.host = pulumi.output(args.address);
    this.controlPort = pulumi.output(args.controlPort);
    this.dataPort = pulumi.output(args.dataPort);
    this.registerOutputs(gatewayOutputs(this));
  }

  /** Makes the VM named `name` and what goes with it, as children of this; returns the VM's id. */
  protected abstract vm(name: string, args: A): pulumi.Input<string>;
}

/** Where a cloud's parts make resources: under the dataplane, named after it, with its tags. */
export interface DataplaneSite {
  /** The dataplane's name, which every child's name starts with. */
  readonly name: string;
  /** The dataplane component, every child's parent. */
  readonly parent: pulumi.ComponentResource;
  /** This cloud's gateways of the topology. */
  readonly gateways: readonly GatewaySpec[];
  /** The network scopes of those gateways (`CloudParts.regionOf`), sorted. */
  readonly regions: readonly string[];
  /** The tags (on GCP: labels) every resource carries. */
  readonly tags: Record<string, string>;
}

/** What every cloud's shared part holds: the bundle in its artifacts bucket, as the gateways boot it. */
export interface SharedArtifacts {
  /** Where the bundle is and its sha256. */
  readonly bundle: pulumi.Output<BootBundle>;
}

/**
 * What a cloud plugs into CloudDataplane, in the order the flow calls it: the stock image lookups and
 * what the addresses need, one static address per gateway, what every gateway shares once every peer's
 * address is known (with the artifacts bucket holding the bundle), each region's network and firewall,
 * and each gateway VM. `Ctx`, `Ip`, `Shared` and `Net` are the cloud's own handles on what it made.
 */
export interface CloudParts<Ctx, Ip, Shared extends SharedArtifacts, Net> {
  /** The topology's provider of this cloud's gateways. */
  readonly provider: Cloud;
  /** The cloud as messages name it, e.g. AWS. */
  readonly label: string;
  /**
   * The network scope a topology region id is in, as this cloud keys its networks: the region id itself
   * on AWS (a VPC per region), the region of a zone on GCP, the location on Azure.
   */
  regionOf(regionId: string): string;
  /** The tags every resource carries, by the cloud's own key rules (naming.ts). */
  tags(route: string, dataplane: string, expireAt: number): Record<string, string>;
  /**
   * Checks the arguments, looks up the stock images, and makes what the addresses need (providers per
   * region, a resource group).
   */
  prepare(site: DataplaneSite): Ctx;
  /** A gateway's static public address (`ip`), and the cloud's handle on it for the VM (`ref`). */
  address(site: DataplaneSite, ctx: Ctx, spec: GatewaySpec): { ref: Ip; ip: pulumi.Input<string> };
  /**
   * What every gateway shares, made once every peer's address is known (`firewall`: what firewalls
   * admit): identity, secrets, a network, and the artifacts bucket with `bundle` uploaded under
   * `bundleKey(bundle)`, which the gateways' identity alone may read, on exactly `bundlePrefix(bundle)`.
   */
  shared(
    site: DataplaneSite,
    ctx: Ctx,
    firewall: GatewayFirewallArgs,
    bundle: GatewayBundleFile,
  ): Shared;
  /** The network and firewall of one network scope; `index` picks its private range (regionCidrs). */
  region(
    site: DataplaneSite,
    shared: Shared,
    region: string,
    index: number,
    firewall: GatewayFirewallArgs,
  ): Net;
  /**
   * One gateway VM named `name`, given what every cloud's gateway takes but where its Node comes from
   * (which depends on its image: `nodeSource`).
   */
  gateway(
    name: string,
    spec: GatewaySpec,
    common: Omit<CloudGatewayArgs, "node">,
    handles: { site: DataplaneSite; ctx: Ctx; shared: Shared; net: Net; ip: Ip },
  ): void;
}

/**
 * The dataplane of one cloud: every gateway of a topology on it, with their addresses, networks,
 * firewalls, identity and secrets. The flow is the same on every cloud; `parts` makes what is its own.
 */
export class CloudDataplane extends pulumi.ComponentResource {
  /** Where the runner reaches each gateway. */
  readonly gateways: pulumi.Output<GatewayEndpoint[]>;

  constructor(
    type: string,
    name: string,
    args: CloudDataplaneArgs,
    parts: CloudParts<unknown, unknown, SharedArtifacts, unknown>,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(type, name, {}, opts);
    const gateways = cloudGateways(args.topology, parts.provider, parts.label, this);
    const { route, controlPort, dataPort, ttlMinutes } = dataplaneDefaults(args);
    const site: DataplaneSite = {
      name,
      parent: this,
      gateways,
      regions: [...new Set(gateways.map((g) => parts.regionOf(g.region)))].sort(),
      tags: parts.tags(route, name, args.expireAt),
    };
    const ctx = parts.prepare(site);
    // Addresses first: every firewall must know every peer before any gateway boots.
    const addresses = new Map(gateways.map((g) => [g.id, parts.address(site, ctx, g)]));
    const book = addressBook(
      new Map([...addresses].map(([id, a]) => [id, a.ip])),
      args.remotePeers,
    );
    const firewall: GatewayFirewallArgs = {
      peerIps: book.peerIps,
      clientCidr: args.clientCidr,
      dataPort,
      controlPort,
      sshCidr: args.sshCidr,
    };
    const shared = parts.shared(site, ctx, firewall, args.bundle);
    site.regions.forEach((region, index) => {
      const net = parts.region(site, shared, region, index, firewall);
      for (const spec of gateways.filter((g) => parts.regionOf(g.region) === region)) {
        const address = addresses.get(spec.id) as { ref: unknown; ip: pulumi.Input<string> };
        parts.gateway(
          `${name}-${spec.id}`,
          spec,
          {
            program: boundProgram(spec, book.peers, dataPort),
            vmClass: spec.vmClass,
            bundle: shared.bundle,
            address: address.ip,
            controlPort,
            dataPort,
            expireAt: args.expireAt,
            ttlMinutes,
            tags: site.tags,
          },
          { site, ctx, shared, net, ip: address.ref },
        );
      }
    });
    this.gateways = gatewayEndpoints(gateways, book.own, controlPort, dataPort);
    this.registerOutputs({ gateways: this.gateways });
  }
}
