import * as aws from "@pulumi/aws";
import * as ec2 from "@pulumi/aws/ec2";
import * as secretsmanager from "@pulumi/aws/secretsmanager";
import * as pulumi from "@pulumi/pulumi";
import { parseRegion, regionSlug } from "../../common/regions";
import {
  addressBook,
  boundProgram,
  CloudDataplaneArgs,
  cloudGateways,
  dataplaneDefaults,
  GatewayEndpoint,
  gatewayEndpoints,
} from "../cloud";
import { AwsGatewayFirewall } from "./firewall";
import { AwsGateway } from "./gateway";
import { AwsGatewayIdentity } from "./iam";
import { dataplaneTags } from "./naming";
import { AwsRegionNetwork } from "./network";

/** Arguments of a dataplane on AWS. */
export interface AwsDataplaneArgs extends CloudDataplaneArgs {
  /** Gateway image (AMI) per region id. */
  amis: Record<string, pulumi.Input<string>>;
  /** The gateway container image. */
  image: string;
  /** Buckets the gateways read (names). */
  readBuckets: string[];
  /** Buckets the gateways write (names). */
  writeBuckets: string[];
}

/** Every gateway of a topology as EC2 VMs, with their networks, firewalls, identity and secrets. */
export class AwsDataplane extends pulumi.ComponentResource {
  /** Where the runner reaches each gateway. */
  readonly gateways: pulumi.Output<GatewayEndpoint[]>;

  constructor(name: string, args: AwsDataplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:aws:Dataplane", name, {}, opts);
    const { topology } = args;
    const gateways = cloudGateways(topology, "aws", "AWS", this);
    const regions = [...new Set(gateways.map((g) => g.region))].sort();
    for (const r of regions) {
      if (!args.amis[r]) {
        throw new pulumi.InputPropertyError({
          propertyPath: `amis["${r}"]`,
          reason: `no gateway image for ${r}: build one with gateway-image/vm-image.pkr.hcl`,
        });
      }
    }
    const { route, controlPort, dataPort, ttlMinutes } = dataplaneDefaults(args);
    const tags = dataplaneTags(route, name, args.expireAt);
    const providers = new Map(
      regions.map((r) => [
        r,
        new aws.Provider(
          `${name}-${regionSlug(r)}`,
          { region: parseRegion(r).name as aws.Region },
          { parent: this },
        ),
      ]),
    );
    // Addresses first: every firewall must know every peer before any gateway boots.
    const eips = new Map(
      gateways.map((g) => [
        g.id,
        new ec2.Eip(
          `${name}-${g.id}-ip`,
          { domain: "vpc", tags },
          { parent: this, provider: providers.get(g.region) },
        ),
      ]),
    );
    const book = addressBook(
      new Map([...eips].map(([id, eip]) => [id, eip.publicIp])),
      args.remotePeers,
    );
    const secrets = new Map(
      regions.map((r) => {
        const secret = new secretsmanager.Secret(
          `${name}-${regionSlug(r)}-secret`,
          { recoveryWindowInDays: 0, tags },
          { parent: this, provider: providers.get(r) },
        );
        new secretsmanager.SecretVersion(
          `${name}-${regionSlug(r)}-secret-value`,
          {
            secretId: secret.id,
            secretString: pulumi.secret(pulumi.jsonStringify({ token: args.token, key: args.key })),
          },
          { parent: this, provider: providers.get(r) },
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
      { parent: this, providers: [providers.get(regions[0]) as aws.Provider] },
    );
    regions.forEach((region, index) => {
      const provider = providers.get(region) as aws.Provider;
      const network = new AwsRegionNetwork(
        `${name}-${regionSlug(region)}`,
        { index, tags, provider },
        { parent: this },
      );
      const firewall = new AwsGatewayFirewall(
        `${name}-${regionSlug(region)}`,
        {
          vpcId: network.vpcId,
          peerIps: book.peerIps,
          clientCidr: args.clientCidr,
          dataPort,
          controlPort,
          sshCidr: args.sshCidr,
          tags,
          provider,
        },
        { parent: this },
      );
      for (const spec of gateways.filter((g) => g.region === region)) {
        new AwsGateway(
          `${name}-${spec.id}`,
          {
            program: boundProgram(spec, book.peers, dataPort),
            instanceType: spec.vmClass,
            ami: args.amis[region],
            image: args.image,
            subnetId: network.subnetId,
            securityGroupId: firewall.securityGroupId,
            instanceProfile: identity.instanceProfile,
            allocationId: (eips.get(spec.id) as ec2.Eip).id,
            secretArn: (secrets.get(region) as secretsmanager.Secret).arn,
            controlPort,
            dataPort,
            expireAt: args.expireAt,
            ttlMinutes,
            tags,
            provider,
          },
          { parent: this },
        );
      }
    });
    this.gateways = gatewayEndpoints(gateways, book.own, controlPort, dataPort);
    this.registerOutputs({ gateways: this.gateways });
  }
}
