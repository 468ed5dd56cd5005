import * as iam from "@pulumi/aws/iam";
import * as pulumi from "@pulumi/pulumi";
import { assumeRolePolicy, gatewayPolicy } from "./naming";

/** Arguments of the gateways' identity. */
export interface AwsGatewayIdentityArgs {
  /** Buckets the gateways read. */
  readBuckets: string[];
  /** Buckets the gateways write. */
  writeBuckets: string[];
  /** ARNs of the dataplane's secrets. */
  secretArns: pulumi.Input<pulumi.Input<string>[]>;
  /** The objects of the gateway bundle, as an ARN pattern (its prefix in the artifacts bucket, `/*`). */
  bundleArn: pulumi.Input<string>;
  /** Tags. */
  tags: Record<string, string>;
}

/** An IAM role and instance profile with exactly the permissions this dataplane's buckets and bundle need. */
export class AwsGatewayIdentity extends pulumi.ComponentResource {
  /** The instance profile's name. */
  readonly instanceProfile: pulumi.Output<string>;

  constructor(name: string, args: AwsGatewayIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:aws:GatewayIdentity", name, {}, opts);
    const role = new iam.Role(
      `${name}-role`,
      {
        assumeRolePolicy: assumeRolePolicy("ec2.amazonaws.com"),
        tags: args.tags,
      },
      { parent: this },
    );
    const policy = new iam.RolePolicy(
      `${name}-policy`,
      {
        role: role.id,
        policy: pulumi
          .all([args.secretArns, args.bundleArn])
          .apply(([arns, bundle]) =>
            gatewayPolicy(args.readBuckets, args.writeBuckets, arns, [bundle]),
          ),
      },
      { parent: this },
    );
    const profile = new iam.InstanceProfile(
      `${name}-profile`,
      { role: role.name, tags: args.tags },
      { parent: this },
    );
    // Known once the policy is attached too: a gateway booting with the profile may use it at once.
    this.instanceProfile = pulumi
      .all([profile.name, policy.id])
      .apply(([profileName]) => profileName);
    this.registerOutputs({ instanceProfile: this.instanceProfile });
  }
}
