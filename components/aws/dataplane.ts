import * as aws from "@pulumi/aws";
import * as ec2 from "@pulumi/aws/ec2";
import * as secretsmanager from "@pulumi/aws/secretsmanager";
import * as pulumi from "@pulumi/pulumi";
import type { ArtifactRef } from "../../gateway-image/boot";
import { parseRegion, regionSlug } from "../../common/regions";
import {
  BootBundle,
  CloudDataplane,
  CloudDataplaneArgs,
  CloudParts,
  nodeSource,
  SharedArtifacts,
} from "../cloud";
import { skyplaneTags } from "../naming";
import { AwsArtifacts } from "./artifacts";
import { AwsGatewayFirewall } from "./firewall";
import { AwsGateway } from "./gateway";
import { AwsGatewayIdentity } from "./iam";
import { afterLookups, stockAmi } from "./image";
import { AwsRegionNetwork } from "./network";

/** Arguments of a dataplane on AWS. */
export interface AwsDataplaneArgs extends CloudDataplaneArgs {
  /**
   * Your own gateway VM image (AMI) of a region id, where you want one (AMIs are regional). Default:
   * Canonical's Ubuntu 24.04 LTS AMI of the region, looked up at `up`.
   */
  images?: Record<string, pulumi.Input<string>>;
  /** The Node binary on your own images (e.g. /usr/bin/node). Default: the pinned Node runtime, fetched at boot. */
  node?: string;
}

/** Every gateway of a topology as EC2 VMs, with their networks, firewalls, identity and secrets. */
export class AwsDataplane extends CloudDataplane {
  constructor(name: string, args: AwsDataplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:aws:Dataplane", name, args, awsParts(args), opts);
  }
}

/** A provider per region (what the addresses need), and the gateway AMI of each region. */
interface AwsProviders {
  readonly providers: Map<string, aws.Provider>;
  /** The AMI of each region: yours, or the stock one. */
  readonly amis: Map<string, { ami: pulumi.Input<string>; stock: boolean }>;
}

/** What every AWS gateway shares: its region's provider and secret, one identity, and the artifacts bucket. */
interface AwsShared extends AwsProviders, SharedArtifacts {
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
      const own = args.images ?? {};
      if (args.node)
        for (const r of regions)
          if (!own[r])
            throw new pulumi.InputPropertyError({
              propertyPath: `images["${r}"]`,
              reason: `node ${args.node} is a Node on your own image, but ${r} has none: give its AMI, or leave node unset to boot the stock image`,
            });
      // The stock AMIs are looked up through a provider of their own, and every other resource waits for
      // them (its region's provider depends on the lookups): a region without one fails before anything
      // is created.
      const stock = regions.filter((r) => !own[r]);
      const lookup =
        stock.length > 0
          ? new aws.Provider(
              `${name}-images`,
              { region: parseRegion(stock[0]).name as aws.Region },
              { parent },
            )
          : undefined;
      const amis = new Map(
        regions.map((r) => [
          r,
          own[r]
            ? { ami: own[r], stock: false }
            : { ami: stockAmi(r, lookup as aws.Provider, parent), stock: true },
        ]),
      );
      const found = afterLookups([...amis.values()].filter((a) => a.stock).map((a) => a.ami));
      const providers = new Map(
        regions.map((r) => [
          r,
          new aws.Provider(
            `${name}-${regionSlug(r)}`,
            { region: parseRegion(r).name as aws.Region },
            { parent, dependsOn: found },
          ),
        ]),
      );
      return { providers, amis };
    },
    address({ name, parent, tags }, { providers }, g) {
      const eip = new ec2.Eip(
        `${name}-${g.id}-ip`,
        { domain: "vpc", tags },
        { parent, provider: providers.get(g.region) },
      );
      return { ref: eip, ip: eip.publicIp };
    },
    shared({ name, parent, regions, tags }, { providers, amis }, _firewall, bundle) {
      // The artifacts bucket is in the first region; gateways elsewhere fetch from it across regions.
      const home = regions[0];
      const artifacts = new AwsArtifacts(
        `${name}-artifacts`,
        { bundle, tags, provider: providers.get(home) as aws.Provider },
        { parent },
      );
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
          bundleArn: artifacts.readArn,
          tags,
        },
        { parent, providers: [providers.get(home) as aws.Provider] },
      );
      const bundleRef = pulumi
        .all([artifacts.bucket, artifacts.key])
        .apply(([bucket, key]): BootBundle => ({
          artifact: {
            provider: "aws",
            region: parseRegion(home).name,
            bucket,
            key,
          } satisfies ArtifactRef,
          sha256: bundle.sha256,
        }));
      return { providers, amis, secrets, identity, bundle: bundleRef };
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
      const image = shared.amis.get(spec.region) as { ami: pulumi.Input<string>; stock: boolean };
      new AwsGateway(
        name,
        {
          ...common,
          node: nodeSource(args.nodeRuntime, image.stock ? undefined : args.node),
          image: image.ami,
          stockImage: image.stock,
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
