import * as aws from "@pulumi/aws";
import * as ec2 from "@pulumi/aws/ec2";
import * as pulumi from "@pulumi/pulumi";
import { regionCidrs } from "../cloud";

/** Arguments of a region's network. */
export interface AwsRegionNetworkArgs {
  /** Index of the region in the dataplane (picks its CIDR). */
  index: number;
  /** Tags for every resource. */
  tags: Record<string, string>;
  /** The region's provider. */
  provider: aws.Provider;
}

/** A VPC with one public subnet, made for the dataplane and destroyed with it (no leaked VPCs). */
export class AwsRegionNetwork extends pulumi.ComponentResource {
  /** The VPC. */
  readonly vpcId: pulumi.Output<string>;
  /** The gateways' subnet. */
  readonly subnetId: pulumi.Output<string>;

  constructor(name: string, args: AwsRegionNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:aws:RegionNetwork", name, {}, opts);
    const child = { parent: this, provider: args.provider };
    const cidrs = regionCidrs(args.index);
    const vpc = new ec2.Vpc(
      `${name}-vpc`,
      { cidrBlock: cidrs.network, enableDnsHostnames: true, tags: args.tags },
      child,
    );
    const subnet = new ec2.Subnet(
      `${name}-subnet`,
      { vpcId: vpc.id, cidrBlock: cidrs.subnet, mapPublicIpOnLaunch: false, tags: args.tags },
      child,
    );
    const igw = new ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: args.tags }, child);
    const routes = new ec2.RouteTable(
      `${name}-routes`,
      { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: args.tags },
      child,
    );
    new ec2.RouteTableAssociation(
      `${name}-routes-assoc`,
      { subnetId: subnet.id, routeTableId: routes.id },
      child,
    );
    this.vpcId = vpc.id;
    this.subnetId = subnet.id;
    this.registerOutputs({ vpcId: this.vpcId, subnetId: this.subnetId });
  }
}
