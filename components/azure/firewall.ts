import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";
import { GatewayFirewallArgs, ingressRules } from "../cloud";

/** Arguments of the gateways' network security group in one location. */
export interface AzureGatewayFirewallArgs extends GatewayFirewallArgs {
  /** The dataplane's resource group. */
  resourceGroupName: pulumi.Input<string>;
  /** Azure location. */
  location: string;
  /** Tags. */
  tags: Record<string, string>;
}

/** Only the gateway ports, only from peer gateways and the client (Azure denies other inbound traffic). */
export class AzureGatewayFirewall extends pulumi.ComponentResource {
  /** The security group's id. */
  readonly securityGroupId: pulumi.Output<string>;

  constructor(
    name: string,
    args: AzureGatewayFirewallArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("skyplane:azure:GatewayFirewall", name, {}, opts);
    // Each rule's name and priority: what Azure lists and orders rules by.
    const named = {
      data: { name: "skyplane-data", priority: 100 },
      control: { name: "skyplane-control", priority: 110 },
      ssh: { name: "ssh", priority: 120 },
    };
    const nsg = new network.NetworkSecurityGroup(
      `${name}-nsg`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        securityRules: ingressRules(args).apply((rules) =>
          rules.map((r) => ({
            ...named[r.name],
            direction: "Inbound",
            access: "Allow",
            protocol: "Tcp",
            sourceAddressPrefixes: r.sources,
            sourcePortRange: "*",
            destinationAddressPrefix: "*",
            destinationPortRange: String(r.port),
          })),
        ),
        tags: args.tags,
      },
      { parent: this },
    );
    this.securityGroupId = nsg.id.apply((id) => id as string);
    this.registerOutputs({ securityGroupId: this.securityGroupId });
  }
}
