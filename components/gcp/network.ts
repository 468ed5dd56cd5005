import * as compute from "@pulumi/gcp/compute";
import * as pulumi from "@pulumi/pulumi";
import { regionCidrs } from "../cloud";

/** Arguments of a dataplane's network. */
export interface GcpNetworkArgs {
  /** The project. */
  project: pulumi.Input<string>;
  /** Region names (e.g. us-central1), in order. */
  regions: string[];
}

/** A VPC with one subnet per region, made for the dataplane and destroyed with it. */
export class GcpNetwork extends pulumi.ComponentResource {
  /** The network's self link. */
  readonly network: pulumi.Output<string>;
  /** Subnet self link per region name. */
  readonly subnets: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: GcpNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:gcp:Network", name, {}, opts);
    const network = new compute.Network(
      `${name}-vpc`,
      { project: args.project, autoCreateSubnetworks: false },
      { parent: this },
    );
    this.network = network.selfLink;
    this.subnets = Object.fromEntries(
      args.regions.map((region, i) => [
        region,
        new compute.Subnetwork(
          `${name}-${region}`,
          {
            project: args.project,
            region,
            network: network.id,
            ipCidrRange: regionCidrs(i).subnet,
          },
          { parent: this },
        ).selfLink,
      ]),
    );
    this.registerOutputs({ network: this.network, subnets: this.subnets });
  }
}
