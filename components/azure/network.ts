import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";
import { regionCidrs } from "../cloud";

/** Arguments of a region's network. */
export interface AzureRegionNetworkArgs {
  /** The dataplane's resource group. */
  resourceGroupName: pulumi.Input<string>;
  /** Azure location, e.g. eastus. */
  location: string;
  /** Index of the region in the dataplane. */
  index: number;
  /** Tags. */
  tags: Record<string, string>;
}

/** A virtual network with one subnet, made for the dataplane and destroyed with it. */
export class AzureRegionNetwork extends pulumi.ComponentResource {
  /** The gateways' subnet id. */
  readonly subnetId: pulumi.Output<string>;

  constructor(name: string, args: AzureRegionNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:azure:RegionNetwork", name, {}, opts);
    const cidrs = regionCidrs(args.index);
    const vnet = new network.VirtualNetwork(
      `${name}-vnet`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        addressSpace: { addressPrefixes: [cidrs.network] },
        tags: args.tags,
      },
      { parent: this },
    );
    const subnet = new network.Subnet(
      `${name}-subnet`,
      {
        resourceGroupName: args.resourceGroupName,
        virtualNetworkName: vnet.name,
        addressPrefix: cidrs.subnet,
      },
      { parent: this },
    );
    this.subnetId = subnet.id.apply((id) => id as string);
    this.registerOutputs({ subnetId: this.subnetId });
  }
}
