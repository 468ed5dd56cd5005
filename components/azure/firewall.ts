import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";

/** Arguments of the gateways' network security group. */
export interface AzureGatewayFirewallArgs {
  /** The dataplane's resource group. */
  resourceGroupName: pulumi.Input<string>;
  /** Azure location. */
  location: string;
  /** Every gateway's address (peers may send to the data port). */
  peerIps: pulumi.Input<pulumi.Input<string>[]>;
  /** The client's address as a CIDR (it alone reaches the control port). */
  clientCidr: pulumi.Input<string>;
  /** Data port. */
  dataPort: number;
  /** Control API port. */
  controlPort: number;
  /** A CIDR allowed to SSH in; default none. */
  sshCidr?: pulumi.Input<string>;
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
    const rule = (
      ruleName: string,
      priority: number,
      port: number,
      sources: pulumi.Input<pulumi.Input<string>[]>,
    ) => ({
      name: ruleName,
      priority,
      direction: "Inbound",
      access: "Allow",
      protocol: "Tcp",
      sourceAddressPrefixes: sources,
      sourcePortRange: "*",
      destinationAddressPrefix: "*",
      destinationPortRange: String(port),
    });
    const nsg = new network.NetworkSecurityGroup(
      `${name}-nsg`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        securityRules: pulumi
          .all([args.peerIps, args.clientCidr, args.sshCidr])
          .apply(([peers, client, ssh]) => [
            rule(
              "skyplane-data",
              100,
              args.dataPort,
              peers.map((ip) => `${ip}/32`),
            ),
            rule("skyplane-control", 110, args.controlPort, [client]),
            ...(ssh ? [rule("ssh", 120, 22, [ssh])] : []),
          ]),
        tags: args.tags,
      },
      { parent: this },
    );
    this.securityGroupId = nsg.id.apply((id) => id as string);
    this.registerOutputs({ securityGroupId: this.securityGroupId });
  }
}
