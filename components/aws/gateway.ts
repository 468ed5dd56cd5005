import * as aws from "@pulumi/aws";
import * as ec2 from "@pulumi/aws/ec2";
import * as pulumi from "@pulumi/pulumi";
import { renderBootScript, SecretRef } from "../../gateway-image/boot";
import type { GatewayProgram } from "../../planner/program";
import { AwsGatewayExpiry } from "./expiry";

/** Arguments of one AWS gateway VM. */
export interface AwsGatewayArgs {
  /** Its program, send targets bound to peers' addresses. */
  program: pulumi.Input<GatewayProgram>;
  /** VM class, e.g. m5.8xlarge. */
  instanceType: string;
  /** Image with Docker, jq and the AWS CLI (gateway-image/vm-image.pkr.hcl). */
  ami: pulumi.Input<string>;
  /** The gateway container image. */
  image: string;
  /** Subnet. */
  subnetId: pulumi.Input<string>;
  /** Security group. */
  securityGroupId: pulumi.Input<string>;
  /** Instance profile. */
  instanceProfile: pulumi.Input<string>;
  /** Elastic IP allocation (the address peers' firewalls know). */
  allocationId: pulumi.Input<string>;
  /** The dataplane's secret in this region. */
  secretArn: pulumi.Input<string>;
  /** Ports. */
  controlPort: number;
  /** Data port. */
  dataPort: number;
  /** Epoch ms at which the VM ends itself, and its time to live in minutes. */
  expireAt: number;
  /** Its TTL in minutes, which the policy pack checks (the VM ends at expireAt). */
  ttlMinutes: number;
  /** Tags. */
  tags: Record<string, string>;
  /** The region's provider. */
  provider: aws.Provider;
}

/** A gateway VM: booted by cloud-init, no SSH provisioning, terminated at expiry by EventBridge Scheduler and by its own power-off. */
export class AwsGateway extends pulumi.ComponentResource {
  /** The instance id. */
  readonly instanceId: pulumi.Output<string>;

  constructor(name: string, args: AwsGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    // Registered inputs are what the policy pack sees: tags and TTL, never secrets.
    super("skyplane:aws:Gateway", name, { tags: args.tags, ttlMinutes: args.ttlMinutes }, opts);
    const child = { parent: this, provider: args.provider };
    const region = args.provider.region;
    const userData = pulumi
      .all([args.program, args.secretArn, region])
      .apply(([program, secretArn, r]) =>
        renderBootScript({
          program,
          image: args.image,
          secrets: { provider: "aws", secretArn, region: r as string } satisfies SecretRef,
          controlPort: args.controlPort,
          dataPort: args.dataPort,
          expireAt: args.expireAt,
        }),
      );
    const instance = new ec2.Instance(
      `${name}-vm`,
      {
        ami: args.ami,
        instanceType: args.instanceType,
        subnetId: args.subnetId,
        vpcSecurityGroupIds: [args.securityGroupId],
        iamInstanceProfile: args.instanceProfile,
        userData,
        userDataReplaceOnChange: true,
        // A shutdown (the boot script's, at expiry) terminates the VM: nothing runs on after a lost client.
        instanceInitiatedShutdownBehavior: "terminate",
        metadataOptions: { httpTokens: "required" },
        // Encrypted at rest with the account's EBS key (the policy pack insists): container state and
        // logs live here, though the secrets themselves stay in memory (gateway-image/boot.ts).
        rootBlockDevice: { encrypted: true, volumeType: "gp3", deleteOnTermination: true },
        tags: { ...args.tags, Name: name },
      },
      child,
    );
    new AwsGatewayExpiry(
      `${name}-expiry`,
      {
        instanceId: instance.id,
        instanceArn: instance.arn,
        expireAt: args.expireAt,
        tags: args.tags,
        provider: args.provider,
      },
      { parent: this },
    );
    new ec2.EipAssociation(
      `${name}-eip`,
      { instanceId: instance.id, allocationId: args.allocationId },
      child,
    );
    this.instanceId = instance.id;
    this.registerOutputs({ instanceId: this.instanceId });
  }
}
