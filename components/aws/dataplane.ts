import * as aws from "@pulumi/aws";
import * as ec2 from "@pulumi/aws/ec2";
import * as secretsmanager from "@pulumi/aws/secretsmanager";
import * as pulumi from "@pulumi/pulumi";
import { parseRegion, regionSlug } from "../../common/regions";
import { CloudDataplane, CloudDataplaneArgs, CloudParts } from "../cloud";
import { skyplaneTags } from "../naming";
import { AwsGatewayFirewall } from "./firewall";
import { AwsGateway } from "./gateway";
import { AwsGatewayIdentity } from "./iam";
import { AwsRegionNetwork } from "./network";

/** Arguments of a dataplane on AWS. */
export interface AwsDataplaneArgs extends CloudDataplaneArgs {
  /** The gateway VM image (AMI) of each region id: AMIs are regional. */
  images: Record<string, pulumi.Input<string>>;
}

/** Every gateway of a topology as EC2 VMs, with their networks, firewalls, identity and secrets. */
export class AwsDataplane extends CloudDataplane {
  constructor(name: string, args: AwsDataplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:aws:Dataplane", name, args, awsParts(args), opts);
  }
}

/** A provider per region: what the addresses need. */
interface AwsProviders {
  readonly providers: Map<string, aws.Provider>;
}

/** What every AWS gateway shares: its region's provider and secret, and one identity. */
interface AwsShared extends AwsProviders {
  readonly secrets: Map<string, secretsmanager.Secret>;
  readonly identity: AwsGatewayIdentity;
}

/** A region's network and firewall. */
interface AwsRegion {
  readonly network: AwsRegionNetwork;
  readonly firewall: AwsGatewayFirewall;
}

/** What is AWS's own in a dataplane: a VPC, secret and provider per region; one IAM identity. */
function awsParts(args: AwsDataplaneArgs): CloudParts<AwsProviders, ec2.Eip, AwsShared, AwsRegion> {
  return {
    provider: "aws",
    label: "AWS",
    regionOf: (regionId) => regionId,
    tags: (route, dataplane, expireAt) => skyplaneTags(":", route, dataplane, expireAt),
    prepare({ name, parent, regions }) {
      for (const r of regions) {
        if (!args.images[r]) {
          throw new pulumi.InputPropertyError({
            propertyPath: `images["${r}"]`,
            reason: `no gateway image for ${r}: build one with gateway-image/vm-image.pkr.hcl`,
          });
        }
      }
      const providers = new Map(
        regions.map((r) => [
          r,
          new aws.Provider(
            `${name}-${regionSlug(r)}`,
            { region: parseRegion(r).name as aws.Region },
            { parent },
          ),
        ]),
      );
      return { providers };
    },
    address({ name, parent, tags }, { providers }, g) {
      const eip = new ec2.Eip(
        `${name}-${g.id}-ip`,
        { domain: "vpc", tags },
        { parent, provider: providers.get(g.region) },
      );
      return { ref: eip, ip: eip.publicIp };
    },
    shared({ name, parent, regions, tags }, { providers }) {
      const secrets = new Map(
        regions.map((r) => {
          const secret = new secretsmanager.Secret(
            `${name}-${regionSlug(r)}-secret`,
            { recoveryWindowInDays: 0, tags },
            { parent, provider: providers.get(r) },
          );
          new secretsmanager.SecretVersion(
            `${name}-${regionSlug(r)}-secret-value`,
            {
              secretId: secret.id,
              secretString: pulumi.secret(
                pulumi.jsonStringify({ token: args.token, key: args.key }),
              ),
            },
            { parent, provider: providers.get(r) },
          );
          return [r, secret];
        }),
      );
      const identity = new AwsGatewayIdentity(
        `${name}-identity`,
        {
          readBuckets: args.readBuckets,
          writeBuckets: args.writeBuckets,
          secretArns: [...secrets.values()].map((s) => s.arn),
          tags,
        },
        { parent, providers: [providers.get(regions[0]) as aws.Provider] },
      );
      return { providers, secrets, identity };
    },
    region({ name, parent, tags }, { providers }, region, index, rules) {
      const provider = providers.get(region) as aws.Provider;
      const network = new AwsRegionNetwork(
        `${name}-${regionSlug(region)}`,
        { index, tags, provider },
        { parent },
      );
      const firewall = new AwsGatewayFirewall(
        `${name}-${regionSlug(region)}`,
        { ...rules, vpcId: network.vpcId, tags, provider },
        { parent },
      );
      return { network, firewall };
    },
    gateway(name, spec, common, { site, shared, net, ip }) {
      new AwsGateway(
        name,
        {
          ...common,
          image: args.images[spec.region],
          subnetId: net.network.subnetId,
          securityGroupId: net.firewall.securityGroupId,
          instanceProfile: shared.identity.instanceProfile,
          allocationId: ip.id,
          secretArn: (shared.secrets.get(spec.region) as secretsmanager.Secret).arn,
          provider: shared.providers.get(spec.region) as aws.Provider,
        },
        { parent: site.parent },
      );
    },
  };
}
