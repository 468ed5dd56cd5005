import * as aws from "@pulumi/aws";
import * as ec2 from "@pulumi/aws/ec2";
import * as pulumi from "@pulumi/pulumi";

/** Arguments of a gateway firewall. */
export interface AwsGatewayFirewallArgs {
  /** The VPC. */
  vpcId: pulumi.Input<string>;
  /** Addresses of every gateway of the dataplane (peers may send to the data port). */
  peerIps: pulumi.Input<pulumi.Input<string>[]>;
  /** The client's address as a CIDR (it alone reaches the control port). */
  clientCidr: pulumi.Input<string>;
  /** Gateway data port. */
  dataPort: number;
  /** Gateway control API port. */
  controlPort: number;
  /** A CIDR allowed to SSH in; default none: SSH closed. */
  sshCidr?: pulumi.Input<string>;
  /** Tags. */
  tags: Record<string, string>;
  /** The region's provider. */
  provider: aws.Provider;
}

/** The gateways' security group: only the gateway ports, only from peer gateways and the client. */
export class AwsGatewayFirewall extends pulumi.ComponentResource {
  /** The security group. */
  readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: AwsGatewayFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:aws:GatewayFirewall", name, {}, opts);
    const ingress = pulumi
      .all([args.peerIps, args.clientCidr, args.sshCidr])
      .apply(([peers, client, ssh]) => [
        {
          protocol: "tcp",
          fromPort: args.dataPort,
          toPort: args.dataPort,
          cidrBlocks: peers.map((ip) => `${ip}/32`),
          description: "skyplane data from peer gateways",
        },
        {
          protocol: "tcp",
          fromPort: args.controlPort,
          toPort: args.controlPort,
          cidrBlocks: [client],
          description: "skyplane control from the client",
        },
        ...(ssh
          ? [
              {
                protocol: "tcp",
                fromPort: 22,
                toPort: 22,
                cidrBlocks: [ssh],
                description: "ssh, asked for",
              },
            ]
          : []),
      ]);
    const sg = new ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: "skyplane gateways",
        ingress,
        // Gateways reach peers and object stores anywhere; nothing reaches them but the rules above.
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
        tags: args.tags,
      },
      { parent: this, provider: args.provider },
    );
    this.securityGroupId = sg.id;
    this.registerOutputs({ securityGroupId: this.securityGroupId });
  }
}
