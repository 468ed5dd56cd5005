import * as aws from "@pulumi/aws";
import * as iam from "@pulumi/aws/iam";
import * as scheduler from "@pulumi/aws/scheduler";
import * as pulumi from "@pulumi/pulumi";
import { assumeRolePolicy } from "./naming";

/*
 * AWS's own deadline for a gateway VM. EC2 has no maximum run time for on-demand instances, so an
 * EventBridge Scheduler one-time schedule calls TerminateInstances at the expiry, with a role allowed to
 * terminate exactly that instance. It runs outside the VM: a hung guest, a broken image or a boot script
 * that never ran cannot stop it. The VM's own timer (gateway-image/boot.ts) is the second line.
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#one-time
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-universal.html
 */

/** A one-time schedule expression at an expiry (epoch ms), rounded up to the second, in UTC. */
export function atExpression(expireAt: number): string {
  const iso = new Date(Math.ceil(expireAt / 1000) * 1000).toISOString();
  return `at(${iso.slice(0, 19)})`;
}

/** The policy of the scheduler's role: terminating exactly one instance. */
export function terminatePolicy(instanceArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "TerminateThisGateway",
        Effect: "Allow",
        Action: ["ec2:TerminateInstances"],
        Resource: [instanceArn],
      },
    ],
  });
}

/** Arguments of one gateway's expiry schedule. */
export interface AwsGatewayExpiryArgs {
  /** The instance to terminate. */
  instanceId: pulumi.Input<string>;
  /** Its ARN (what the role may terminate). */
  instanceArn: pulumi.Input<string>;
  /** Epoch ms of expiry. */
  expireAt: number;
  /** Tags (of the role; schedules take none). */
  tags: Record<string, string>;
  /** The region's provider (schedules are regional, like the instance). */
  provider: aws.Provider;
}

/** An EventBridge Scheduler schedule that terminates one gateway VM at its expiry. */
export class AwsGatewayExpiry extends pulumi.ComponentResource {
  constructor(name: string, args: AwsGatewayExpiryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:aws:GatewayExpiry", name, { expireAt: args.expireAt }, opts);
    const child = { parent: this, provider: args.provider };
    const role = new iam.Role(
      `${name}-role`,
      {
        assumeRolePolicy: assumeRolePolicy("scheduler.amazonaws.com"),
        tags: args.tags,
      },
      child,
    );
    const policy = new iam.RolePolicy(
      `${name}-policy`,
      { role: role.id, policy: pulumi.output(args.instanceArn).apply(terminatePolicy) },
      child,
    );
    new scheduler.Schedule(
      name,
      {
        scheduleExpression: atExpression(args.expireAt),
        scheduleExpressionTimezone: "UTC",
        flexibleTimeWindow: { mode: "OFF" },
        target: {
          arn: "arn:aws:scheduler:::aws-sdk:ec2:terminateInstances",
          roleArn: role.arn,
          input: pulumi.jsonStringify({ InstanceIds: [args.instanceId] }),
        },
      },
      { ...child, dependsOn: [policy] },
    );
    this.registerOutputs({});
  }
}
