import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { descendants, registered as all, settled, value } from "../../helpers/mocks";
import { planDirect } from "../../../planner/direct";
import { buildModel } from "../../../planner/model";

/*
 * The AWS dataplane under Pulumi's mocks: a two-region topology produces exactly the expected
 * resources, firewalls open only the gateway ports to exactly the peers and the client, the IAM policy
 * grants exact actions on exact buckets, and every resource hangs under the component.
 */

describe("components/aws: the dataplane under mocks", function () {
  this.timeout(30_000);
  let gateways: Array<{ id: string; host: string }>;
  let root: pulumi.ComponentResource;
  // This file's resources (the mocks are shared by every mock test): all named after the component "dp".
  const mine = () => all.filter((r) => r.name === "dp" || r.name.startsWith("dp-"));

  before(async () => {
    const { AwsDataplane } = await import("../../../components/aws");
    const topology = planDirect({ src: "aws:us-east-1", dsts: ["aws:us-west-2"] }, buildModel());
    const dp = new AwsDataplane("dp", {
      topology,
      token: pulumi.secret("the-token-value"),
      key: pulumi.secret("the-key-value"),
      clientCidr: "203.0.113.7/32",
      images: { "aws:us-east-1": "ami-east", "aws:us-west-2": "ami-west" },
      containerImage: "ghcr.io/skyplane-pulumi/gateway:0.1.0",
      readBuckets: ["src-bucket"],
      writeBuckets: ["dst-bucket"],
      expireAt: Date.UTC(2026, 10, 27, 14),
    });
    root = dp;
    gateways = await value(dp.gateways);
    // Every resource of the component is registered: the mocks saw exactly these.
    assert.equal(await settled(dp), mine().length);
  });

  const count = (type: string) => mine().filter((r) => r.type === type).length;

  it("makes exactly the resources of two regions with one gateway each", () => {
    const expected: Record<string, number> = {
      "pulumi:providers:aws": 2,
      "aws:ec2/eip:Eip": 2,
      "aws:secretsmanager/secret:Secret": 2,
      "aws:secretsmanager/secretVersion:SecretVersion": 2,
      "aws:iam/role:Role": 3,
      "aws:iam/rolePolicy:RolePolicy": 3,
      "aws:scheduler/schedule:Schedule": 2,
      "aws:iam/instanceProfile:InstanceProfile": 1,
      "aws:ec2/vpc:Vpc": 2,
      "aws:ec2/subnet:Subnet": 2,
      "aws:ec2/internetGateway:InternetGateway": 2,
      "aws:ec2/routeTable:RouteTable": 2,
      "aws:ec2/routeTableAssociation:RouteTableAssociation": 2,
      "aws:ec2/securityGroup:SecurityGroup": 2,
      "aws:ec2/instance:Instance": 2,
      "aws:ec2/eipAssociation:EipAssociation": 2,
    };
    const custom = mine().filter((r) => !r.type.startsWith("skyplane:"));
    assert.deepEqual(Object.fromEntries(Object.keys(expected).map((t) => [t, count(t)])), expected);
    assert.equal(
      custom.length,
      Object.values(expected).reduce((a, b) => a + b, 0),
      "nothing else",
    );
    assert.deepEqual(
      gateways.map((g) => g.id),
      ["aws-us-east-1-0", "aws-us-west-2-0"],
    );
  });

  it("opens only the gateway ports: data to exactly the peers, control to the client, never the world", () => {
    // The mocks hand out TEST-NET-2 addresses; the peers are exactly the gateways' own.
    const peers = gateways.map((g) => `${g.host}/32`).sort();
    assert.ok(
      peers.every((p) => /^198\.51\.100\.\d+\/32$/.test(p)),
      peers.join(),
    );
    for (const sg of mine().filter((r) => r.type === "aws:ec2/securityGroup:SecurityGroup")) {
      const ingress = sg.inputs.ingress as Array<{
        fromPort: number;
        toPort: number;
        cidrBlocks: string[];
      }>;
      assert.deepEqual(
        ingress.map((i) => [i.fromPort, i.toPort]),
        [
          [8081, 8081],
          [8080, 8080],
        ],
        "no SSH unless asked",
      );
      assert.deepEqual([...ingress[0].cidrBlocks].sort(), peers);
      assert.deepEqual(ingress[1].cidrBlocks, ["203.0.113.7/32"]);
      assert.ok(ingress.every((i) => !i.cidrBlocks.includes("0.0.0.0/0")));
    }
  });

  it("grants exact actions on exact buckets and on the dataplane's own secrets only", () => {
    const [policy] = mine().filter(
      (r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.name === "dp-identity-policy",
    );
    const doc = JSON.parse(policy.inputs.policy as string) as {
      Statement: Array<{ Action: string[]; Resource: string[] }>;
    };
    const grants = doc.Statement.flatMap((s) =>
      s.Action.map((a) => `${a} ${s.Resource.join(",")}`),
    );
    assert.deepEqual(grants, [
      "s3:ListBucket arn:aws:s3:::src-bucket",
      "s3:GetObject arn:aws:s3:::src-bucket/*",
      "s3:ListBucket arn:aws:s3:::dst-bucket",
      "s3:ListBucketMultipartUploads arn:aws:s3:::dst-bucket",
      "s3:PutObject arn:aws:s3:::dst-bucket/*",
      "s3:AbortMultipartUpload arn:aws:s3:::dst-bucket/*",
      "s3:ListMultipartUploadParts arn:aws:s3:::dst-bucket/*",
      "secretsmanager:GetSecretValue arn:aws:secretsmanager:region:123456789012:secret:dp-aws-us-east-1-secret,arn:aws:secretsmanager:region:123456789012:secret:dp-aws-us-west-2-secret",
    ]);
    assert.ok(!JSON.stringify(doc).includes('"*"'), "no wildcard action or resource");
  });

  it("boots gateways from cloud-init with no secret in user data, terminating themselves at expiry, tagged", () => {
    for (const vm of mine().filter((r) => r.type === "aws:ec2/instance:Instance")) {
      assert.equal(vm.inputs.instanceInitiatedShutdownBehavior, "terminate");
      assert.equal(vm.inputs.instanceType, "m5.8xlarge");
      assert.deepEqual(vm.inputs.rootBlockDevice, {
        encrypted: true,
        volumeType: "gp3",
        deleteOnTermination: true,
      });
      const userData = vm.inputs.userData as string;
      assert.match(userData, /^#cloud-config/);
      assert.match(userData, /OnCalendar=2026-11-27 14:00:00 UTC/, "a deadline a reboot keeps");
      assert.match(userData, /exec systemctl poweroff/);
      assert.ok(!userData.includes("the-token-value") && !userData.includes("the-key-value"));
      const tags = vm.inputs.tags as Record<string, string>;
      assert.equal(tags["skyplane:route"], "aws-us-east-1--aws-us-west-2");
      assert.equal(tags["skyplane:expires"], "2026-11-27T14:00:00.000Z");
    }
    const source = mine().find(
      (r) => r.type === "aws:ec2/instance:Instance" && r.name.includes("us-east-1"),
    );
    const destination = gateways.find((g) => g.id === "aws-us-west-2-0");
    assert.ok(
      (source?.inputs.userData as string).includes(`"host": "${destination?.host}"`),
      "the source sends to the destination's address",
    );
  });

  it("has EventBridge Scheduler terminate each VM at its expiry, allowed to end exactly that VM", () => {
    const vms = mine().filter((r) => r.type === "aws:ec2/instance:Instance");
    const schedules = mine().filter((r) => r.type === "aws:scheduler/schedule:Schedule");
    assert.equal(schedules.length, vms.length);
    for (const vm of vms) {
      const gateway = vm.name.replace(/-vm$/, "");
      const schedule = schedules.find((s) => s.name === `${gateway}-expiry`);
      assert.ok(schedule, `${gateway} has a schedule`);
      assert.equal(schedule.inputs.scheduleExpression, "at(2026-11-27T14:00:00)");
      assert.equal(schedule.inputs.scheduleExpressionTimezone, "UTC");
      assert.deepEqual(schedule.inputs.flexibleTimeWindow, { mode: "OFF" });
      const target = schedule.inputs.target as { arn: string; input: string; roleArn: string };
      assert.equal(target.arn, "arn:aws:scheduler:::aws-sdk:ec2:terminateInstances");
      assert.deepEqual(JSON.parse(target.input), { InstanceIds: [`${vm.name}-id`] });
      const role = mine().find((r) => r.name === `${gateway}-expiry-role`);
      assert.equal(target.roleArn, `arn:aws:iam::123456789012:role/${role?.name}`);
      assert.deepEqual(JSON.parse(role?.inputs.assumeRolePolicy as string).Statement[0].Principal, {
        Service: "scheduler.amazonaws.com",
      });
      const policy = mine().find((r) => r.name === `${gateway}-expiry-policy`);
      assert.deepEqual(JSON.parse(policy?.inputs.policy as string).Statement, [
        {
          Sid: "TerminateThisGateway",
          Effect: "Allow",
          Action: ["ec2:TerminateInstances"],
          Resource: [`arn:aws:ec2:region:123456789012:instance/${vm.name}-id`],
        },
      ]);
    }
  });

  it("writes the schedule's time in UTC, rounded up to the second so it never comes early", async () => {
    const { atExpression } = await import("../../../components/aws");
    assert.equal(atExpression(Date.UTC(2026, 10, 27, 14, 0, 0, 1)), "at(2026-11-27T14:00:01)");
    assert.equal(atExpression(Date.UTC(2027, 0, 1)), "at(2027-01-01T00:00:00)");
  });

  it("hangs every resource under the component, so destroy leaves nothing", () => {
    const reachable = descendants(root);
    const custom = mine()
      .filter((r) => !r.type.startsWith("skyplane:"))
      .map((r) => r.name);
    assert.deepEqual(
      custom.filter((n) => !reachable.has(n)),
      [],
    );
  });
});
