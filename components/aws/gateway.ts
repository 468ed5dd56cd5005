import * as zlib from "node:zlib";
import * as aws from "@pulumi/aws";
import * as ec2 from "@pulumi/aws/ec2";
import * as pulumi from "@pulumi/pulumi";
import type { SecretRef } from "../../gateway-image/boot";
import { CloudGateway, CloudGatewayArgs, gatewayBootScript } from "../cloud";
import { AwsGatewayExpiry } from "./expiry";
import { SkyplaneError } from "../../errors";

/** The most user data EC2 takes, in bytes, in raw form (before base64). */
export const AWS_USER_DATA_BYTES = 16 * 1024;

/**
 * A boot script as EC2 user data: as it is when it fits EC2's 16 KB, else gzip-compressed (cloud-init
 * unpacks gzip user data), base64-encoded as `userDataBase64` takes it. The same script gives the same
 * bytes either way (gzip writes no timestamp here). A script that does not fit even compressed is refused.
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html
 */
export function ec2UserData(script: string): { userData?: string; userDataBase64?: string } {
  if (Buffer.byteLength(script) <= AWS_USER_DATA_BYTES) return { userData: script };
  const packed = zlib.gzipSync(script, { level: 9 });
  if (packed.length > AWS_USER_DATA_BYTES)
    throw new SkyplaneError(
      "BOOT_SCRIPT_TOO_LARGE",
      `the boot script is ${Buffer.byteLength(script)} bytes, ${packed.length} gzip-compressed: over the ${AWS_USER_DATA_BYTES} EC2 takes`,
    );
  return { userDataBase64: packed.toString("base64") };
}

/** Arguments of one AWS gateway VM. */
export interface AwsGatewayArgs extends CloudGatewayArgs {
  /** Its AMI. */
  image: pulumi.Input<string>;
  /**
   * Whether `image` is the stock AMI looked up at `up`: a newer one published later then leaves a running
   * gateway as it is (a warm stack is not replaced); only a new VM boots it. Default false.
   */
  stockImage?: boolean;
  /** Subnet. */
  subnetId: pulumi.Input<string>;
  /** Security group. */
  securityGroupId: pulumi.Input<string>;
  /** Instance profile. */
  instanceProfile: pulumi.Input<string>;
  /** Elastic IP allocation of `address` (the address peers' firewalls know). */
  allocationId: pulumi.Input<string>;
  /** The dataplane's secret in this region. */
  secretArn: pulumi.Input<string>;
  /** The region's provider. */
  provider: aws.Provider;
}

/** A gateway VM: booted by cloud-init, no SSH provisioning, terminated at expiry by EventBridge Scheduler and by its own power-off. */
export class AwsGateway extends CloudGateway<AwsGatewayArgs> {
  constructor(name: string, args: AwsGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:aws:Gateway", name, args, opts);
  }

  protected override vm(name: string, args: AwsGatewayArgs): pulumi.Output<string> {
    const child = { parent: this, provider: args.provider };
    const secrets = pulumi
      .all([args.secretArn, args.provider.region])
      .apply(([secretArn, r]): SecretRef => ({ provider: "aws", secretArn, region: r as string }));
    const userData = gatewayBootScript(args, secrets).apply((script) => {
      try {
        return ec2UserData(script);
      } catch (err) {
        throw new pulumi.ResourceError(`${name}: ${(err as Error).message}`, this);
      }
    });
    const instance = new ec2.Instance(
      `${name}-vm`,
      {
        ami: args.image,
        instanceType: args.vmClass,
        subnetId: args.subnetId,
        vpcSecurityGroupIds: [args.securityGroupId],
        iamInstanceProfile: args.instanceProfile,
        userData: userData.apply((u) => u.userData),
        userDataBase64: userData.apply((u) => u.userDataBase64),
        userDataReplaceOnChange: true,
        // A shutdown (the boot script's, at expiry) terminates the VM: nothing runs on after a lost client.
        instanceInitiatedShutdownBehavior: "terminate",
        metadataOptions: { httpTokens: "required" },
        // Encrypted at rest with the account's EBS key (the policy pack insists): the gateway and its
        // logs live here, though the secrets themselves stay in memory (gateway-image/boot.ts).
        rootBlockDevice: { encrypted: true, volumeType: "gp3", deleteOnTermination: true },
        tags: { ...args.tags, Name: name },
      },
      { ...child, ignoreChanges: args.stockImage ? ["ami"] : [] },
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
    return instance.id;
  }
}
