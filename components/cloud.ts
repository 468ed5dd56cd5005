import * as pulumi from "@pulumi/pulumi";
import { CLOUD_TTL_MINUTES } from "../common/ttl";
import { bindProgram, GatewayProgram, sendTargets } from "../planner/program";
import { GatewaySpec, routeStackName, Topology } from "../planner/topology";

/*
 * What the AWS, GCP and Azure dataplanes share: the arguments every cloud takes, where the runner reaches a
 * gateway, the one-provider check and the private address plan of the i-th region.
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
      throw new Error(
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
  if (i < 0 || i > 99) throw new RangeError("at most 100 regions per dataplane");
  return { network: `10.${100 + i}.0.0/16`, subnet: `10.${100 + i}.0.0/24` };
}
