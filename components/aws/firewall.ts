import * as aws from "@pulumi/aws";
import * as ec2 from "@pulumi/aws/ec2";
import * as pulumi from "@pulumi/pulumi";
import { GatewayFirewallArgs, ingressRules } from "../cloud";

/** Arguments of a gateway firewall in one VPC. */
export interface AwsGatewayFirewallArgs extends GatewayFirewallArgs {
  /** The VPC. */
  vpcId: pulumi.Input<string>;
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
    const describe = {
      data: "skyplane data from peer gateways",
      control: "skyplane control from the client",
      ssh: "ssh, asked for",
    };
    const sg = new ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: "skyplane gateways",
        ingress: ingressRules(args).apply((rules) =>
          rules.map((r) => ({
            protocol: "tcp",
            fromPort: r.port,
            toPort: r.port,
            cidrBlocks: r.sources,
            description: describe[r.name],
          })),
        ),
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
