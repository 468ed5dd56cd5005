import * as pulumi from "@pulumi/pulumi";
import type { Topology } from "../planner/topology";

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
  /** Minutes from boot to expiry. Default 120. */
  ttlMinutes?: number;
  /** Control API port. Default 8080. */
  controlPort?: number;
  /** Data port. Default 8081. */
  dataPort?: number;
  /** A CIDR allowed to SSH in; default none. */
  sshCidr?: pulumi.Input<string>;
}

/** Where the runner reaches a gateway. */
export interface GatewayEndpoint {
  id: string;
  region: string;
  host: string;
  controlPort: number;
  dataPort: number;
}

/** Refuses a topology with gateways on another cloud. */
export function requireProvider(
  topology: Topology,
  provider: string,
  cloud: string,
  resource: pulumi.Resource,
): void {
  const foreign = topology.gateways.filter((g) => g.provider !== provider);
  if (foreign.length > 0)
    throw new pulumi.ResourceError(
      `the ${cloud} dataplane cannot run ${foreign.map((g) => g.id).join(", ")}`,
      resource,
    );
}

/** The private network (/16) and subnet (/24) of the i-th region of a dataplane: 10.(100+i).0.0. */
export function regionCidrs(i: number): { network: string; subnet: string } {
  if (i < 0 || i > 99) throw new RangeError("at most 100 regions per dataplane");
  return { network: `10.${100 + i}.0.0/16`, subnet: `10.${100 + i}.0.0/24` };
}
