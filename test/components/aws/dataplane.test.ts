import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as zlib from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import {
  calls,
  Called,
  descendantResources,
  descendants,
  registered as all,
  regionsWithoutStockImage,
  settled,
  testBundle,
  typeOf,
  value,
} from "../../helpers/mocks";
import { checksHash, inputsOfBuilds } from "../../helpers/builds";
import type { AwsDataplaneArgs } from "../../../components/aws";
import { NODE_RUNTIME } from "../../../gateway-image/node-runtime";
import { planDirect } from "../../../planner/direct";
import { buildModel } from "../../../planner/model";

/*
 * The AWS dataplane under Pulumi's mocks: a two-region topology produces exactly the expected
 * resources, each gateway boots Canonical's Ubuntu AMI of its region (looked up at `up`) and fetches the
 * gateway bundle from the stack's private artifacts bucket, which only the gateways' role may read, on
 * exactly the bundle's prefix; firewalls open only the gateway ports to exactly the peers and the client,
 * the IAM policy grants exact actions on exact buckets, and every resource hangs under the component.
 */

describe("components/aws: the dataplane under mocks", function () {
  this.timeout(30_000);
  let gateways: Array<{ id: string; host: string }>;
  let root: pulumi.ComponentResource;
  let lookups: Called[];
  const bundle = testBundle();
  const bundleKey = `skyplane-gateway/${bundle.sha256}/skyplane-gateway-0.0.0-test-linux-x64.tar.gz`;
  // This file's resources (the mocks are shared by every mock test): all named after the component "dp".
  const mine = () => all.filter((r) => r.name === "dp" || r.name.startsWith("dp-"));
  // Resource options are invisible to the mocks: a transformation records them as each child registers.
  const options = new Map<string, pulumi.CustomResourceOptions>();
  const recordOptions: pulumi.ResourceTransformation = ({ type, name, opts }) => {
    options.set(`${type} ${name}`, opts);
    return undefined;
  };
  /** An output's value, or its error. */
  const promise = <T>(o: pulumi.Input<T>) =>
    (pulumi.output(o) as unknown as { promise(): Promise<T> }).promise();
  const topology = planDirect({ src: "aws:us-east-1", dsts: ["aws:us-west-2"] }, buildModel());
  const args: AwsDataplaneArgs = {
    topology,
    token: pulumi.secret("the-token-value"),
    key: pulumi.secret("the-key-value"),
    clientCidr: "203.0.113.7/32",
    bundle,
    nodeRuntime: NODE_RUNTIME,
    readBuckets: ["src-bucket"],
    writeBuckets: ["dst-bucket"],
    expireAt: Date.UTC(2026, 10, 27, 14),
  };

  before(async () => {
    const { AwsDataplane } = await import("../../../components/aws");
    const first = calls.length;
    const dp = new AwsDataplane("dp", args, { transformations: [recordOptions] });
    root = dp;
    gateways = await value(dp.gateways);
    // Every resource of the component is registered: the mocks saw exactly these.
    assert.equal(await settled(dp), mine().length);
    lookups = calls.slice(first);
  });

  const count = (type: string) => mine().filter((r) => r.type === type).length;

  it("makes exactly the resources of two regions with one gateway each", () => {
    const expected: Record<string, number> = {
      "pulumi:providers:aws": 3,
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
      "aws:s3/bucket:Bucket": 1,
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
      "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
      "aws:s3/bucketObjectv2:BucketObjectv2": 1,
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

  it("grants exact actions on exact buckets, the bundle's prefix and the dataplane's own secrets only", () => {
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
      `s3:GetObject arn:aws:s3:::skyplane-artifacts-dp-artifacts-bucket/skyplane-gateway/${bundle.sha256}/*`,
      "secretsmanager:GetSecretValue arn:aws:secretsmanager:region:123456789012:secret:dp-aws-us-east-1-secret,arn:aws:secretsmanager:region:123456789012:secret:dp-aws-us-west-2-secret",
    ]);
    assert.ok(!JSON.stringify(doc).includes('"*"'), "no wildcard action or resource");
  });

  it("looks up Canonical's Ubuntu 24.04 LTS AMI of each region at `up`, boots it, and keeps a warm VM on a newer one", () => {
    assert.deepEqual(
      lookups.map((c) => c.token),
      ["aws:ec2/getAmi:getAmi", "aws:ec2/getAmi:getAmi"],
      "one lookup per region, and nothing else looked up",
    );
    assert.deepEqual(
      lookups.map((c) => c.inputs).sort((a, b) => String(a.region).localeCompare(String(b.region))),
      ["us-east-1", "us-west-2"].map((region) => ({
        region,
        owners: ["099720109477"],
        mostRecent: true,
        filters: [
          { name: "name", values: ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"] },
          { name: "architecture", values: ["x86_64"] },
          { name: "virtualization-type", values: ["hvm"] },
          { name: "root-device-type", values: ["ebs"] },
        ],
      })),
    );
    const vms = mine().filter((r) => r.type === "aws:ec2/instance:Instance");
    assert.deepEqual(vms.map((vm) => [vm.name, vm.inputs.ami]).sort(), [
      ["dp-aws-us-east-1-0-vm", "ami-ubuntu-us-east-1"],
      ["dp-aws-us-west-2-0-vm", "ami-ubuntu-us-west-2"],
    ]);
    for (const vm of vms)
      assert.deepEqual(
        options.get(`${vm.type} ${vm.name}`)?.ignoreChanges,
        ["ami"],
        "Canonical's next AMI replaces nothing",
      );
  });

  it("uploads the bundle to the stack's own encrypted bucket, under its sha256, deleted with the stack", async () => {
    const [bucket] = mine().filter((r) => r.type === "aws:s3/bucket:Bucket");
    assert.equal(bucket.inputs.forceDestroy, true, "destroy empties it");
    assert.equal(bucket.inputs.bucketPrefix, "skyplane-artifacts-");
    assert.equal(
      (bucket.inputs.tags as Record<string, string>)["skyplane:route"],
      "aws-us-east-1--aws-us-west-2",
    );
    const [object] = mine().filter((r) => r.type === "aws:s3/bucketObjectv2:BucketObjectv2");
    assert.equal(object.inputs.bucket, "skyplane-artifacts-dp-artifacts-bucket");
    assert.equal(
      object.inputs.key,
      `skyplane-gateway/${bundle.sha256}/skyplane-gateway-0.0.0-test-linux-x64.tar.gz`,
    );
    assert.equal(await (object.inputs.source as { path: Promise<string> }).path, bundle.path);
    assert.equal(object.inputs.serverSideEncryption, "AES256");
    const [encryption] = mine().filter((r) =>
      r.type.endsWith(":BucketServerSideEncryptionConfiguration"),
    );
    assert.deepEqual(encryption.inputs, {
      bucket: "skyplane-artifacts-dp-artifacts-bucket",
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
    });
  });

  it("makes nothing world-readable: public access blocked, ACLs off, no bucket policy, only the gateways' role reads", () => {
    const storage = mine().filter((r) => r.type.startsWith("aws:s3/"));
    assert.deepEqual(storage.map((r) => r.type.split(":").pop()).sort(), [
      "Bucket",
      "BucketObjectv2",
      "BucketOwnershipControls",
      "BucketPublicAccessBlock",
      "BucketServerSideEncryptionConfiguration",
    ]);
    const byType = (t: string) => storage.find((r) => r.type.endsWith(`:${t}`))?.inputs ?? {};
    assert.deepEqual(byType("BucketPublicAccessBlock"), {
      bucket: "skyplane-artifacts-dp-artifacts-bucket",
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    assert.deepEqual(byType("BucketOwnershipControls").rule, {
      objectOwnership: "BucketOwnerEnforced",
    });
    assert.equal(byType("BucketObjectv2").acl, undefined, "no object ACL (ACLs are off)");
    // Of every IAM policy the dataplane makes, one names the bucket: the gateways', GetObject on the prefix.
    const policies = mine().filter((r) => r.type === "aws:iam/rolePolicy:RolePolicy");
    assert.equal(policies.length, 3);
    const naming = policies.filter((p) => String(p.inputs.policy).includes("skyplane-artifacts-"));
    assert.deepEqual(
      naming.map((p) => p.name),
      ["dp-identity-policy"],
    );
    const statements = (
      JSON.parse(naming[0].inputs.policy as string) as {
        Statement: Array<{ Action: string[]; Resource: string[] }>;
      }
    ).Statement.filter((st) => st.Resource.some((r) => r.includes("skyplane-artifacts-")));
    assert.deepEqual(statements, [
      {
        Sid: "ReadGatewayBundle",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: [
          `arn:aws:s3:::skyplane-artifacts-dp-artifacts-bucket/skyplane-gateway/${bundle.sha256}/*`,
        ],
      },
    ]);
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
      assert.ok(!userData.includes("the-token-value") && !userData.includes("the-key-value"));
      assert.ok(Buffer.byteLength(userData) <= 16 * 1024, "EC2 takes at most 16 KB of user data");
      // The bundle: where it is and the sha256 it must have, both inputs of the VM.
      // The bundle's hash is in the script as what to check, not only as part of the object's key.
      assert.ok(
        checksHash(userData, bundleKey, bundle.sha256),
        `${vm.name} checks the bundle's sha256`,
      );
      assert.ok(userData.includes(bundleKey), `${vm.name} fetches the bundle's object`);
      assert.ok(userData.includes("skyplane-artifacts-dp-artifacts-bucket"), vm.name);
      assert.ok(userData.includes(`skyplane-gateway/${bundle.sha256}/`), vm.name);
      assert.ok(userData.includes(NODE_RUNTIME.sha256), `${vm.name} checks Node's sha256`);
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

  it("gives EC2 the boot script as it is when it fits 16 KB, gzip-compressed when not, and refuses one that never fits", async () => {
    const { ec2UserData } = await import("../../../components/aws");
    assert.deepEqual(ec2UserData("#cloud-config\n"), { userData: "#cloud-config\n" });
    const big = `#cloud-config\n${"runcmd: [true]\n".repeat(3000)}`;
    assert.ok(Buffer.byteLength(big) > 16 * 1024);
    const packed = ec2UserData(big);
    assert.deepEqual(Object.keys(packed), ["userDataBase64"]);
    const bytes = Buffer.from(packed.userDataBase64 as string, "base64");
    assert.ok(bytes.length <= 16 * 1024, `${bytes.length} bytes`);
    assert.equal(zlib.gunzipSync(bytes).toString(), big, "cloud-init unpacks what was packed");
    assert.deepEqual(ec2UserData(big), packed, "the same bytes for the same script");
    const noise = crypto.randomBytes(24 * 1024).toString("base64");
    assert.throws(
      () => ec2UserData(noise),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "BOOT_SCRIPT_TOO_LARGE");
        assert.match(e.message, /over the 16384 EC2 takes/);
        return true;
      },
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

  it("renders byte-identical VM inputs for an unchanged bundle (a warm stack stays), and new ones for a new bundle", async () => {
    const { AwsDataplane } = await import("../../../components/aws");
    const other = testBundle("another gateway bundle");
    const [a1, a2, b] = await inputsOfBuilds(
      [bundle, bundle, other].map((bundle) => () => new AwsDataplane("warm", { ...args, bundle })),
      "aws:ec2/instance:Instance",
    );
    assert.deepEqual(Object.keys(a1).sort(), [
      "warm-aws-us-east-1-0-vm",
      "warm-aws-us-west-2-0-vm",
    ]);
    for (const vm of Object.keys(a1)) {
      assert.equal(a2[vm], a1[vm], `${vm}: the same bytes on the next up`);
      assert.notEqual(b[vm], a1[vm], `${vm}: a new bundle is a new VM`);
      assert.equal(
        b[vm],
        a1[vm].replaceAll(bundle.sha256, other.sha256),
        "and only its hash differs",
      );
    }
  });

  it("creates nothing before every stock image lookup has answered: each resource's provider waits for them", async () => {
    const { afterLookups } = await import("../../../components/aws");
    const children = descendantResources(root);
    const nameOf = (r: pulumi.Resource) => (r as unknown as { __name: string }).__name;
    const providers = children.filter((r) => typeOf(r) === "pulumi:providers:aws");
    assert.deepEqual(providers.map(nameOf).sort(), [
      "dp-aws-us-east-1",
      "dp-aws-us-west-2",
      "dp-images",
    ]);
    const gated = providers.filter((p) => nameOf(p) !== "dp-images");
    for (const p of gated) {
      const waits = options.get(`${typeOf(p)} ${nameOf(p)}`)?.dependsOn;
      assert.ok(pulumi.Output.isInstance(waits), `${nameOf(p)} waits for the lookups`);
    }
    // Every cloud resource of the dataplane is made through a provider that waits.
    const cloud = children.filter((r) => !/^(skyplane:|pulumi:providers:)/.test(typeOf(r)));
    assert.equal(cloud.length, mine().filter((r) => !/^(skyplane:|pulumi:)/.test(r.type)).length);
    assert.ok(cloud.length > 30, `${cloud.length} cloud resources looked at`);
    const through = (r: pulumi.Resource) => (r as unknown as { __prov?: pulumi.Resource }).__prov;
    assert.deepEqual(
      cloud.filter((r) => !gated.includes(through(r) as pulumi.Resource)).map(nameOf),
      [],
    );
    // What they wait for fails with any lookup that fails.
    await assert.rejects(
      promise(afterLookups(["ami-1", Promise.reject(new Error("lookup failed"))])),
      /lookup failed/,
    );
    assert.deepEqual(await promise(afterLookups(["ami-1", Promise.resolve("ami-2")])), []);
  });

  it("fails a region without a stock image, saying what to do", async () => {
    const { stockAmi } = await import("../../../components/aws");
    const { Provider } = await import("@pulumi/aws");
    regionsWithoutStockImage.add("ap-east-1");
    try {
      const owner = new pulumi.ComponentResource("skyplane:test:Owner", "lookup-owner");
      const provider = new Provider("lookup-owner-p", { region: "ap-east-1" }, { parent: owner });
      await assert.rejects(
        promise(stockAmi("aws:ap-east-1", provider, owner)),
        (e: Error) =>
          e.message ===
          "no stock Ubuntu 24.04 LTS image in aws:ap-east-1 (Canonical's ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*): " +
            `give a gateway AMI of your own with pulumi config set --path 'skyplane:cloud.aws.amis["aws:ap-east-1"]' AMI_ID, or route through another region`,
      );
    } finally {
      regionsWithoutStockImage.delete("ap-east-1");
    }
  });

  it("boots an AMI of yours where you give one, with the Node on it, and looks up none there", async () => {
    const { AwsDataplane } = await import("../../../components/aws");
    const first = calls.length;
    const start = all.length;
    const dp = new AwsDataplane("own", {
      ...args,
      images: {
        "aws:us-east-1": "ami-0123456789abcdef0",
        "aws:us-west-2": "ami-0fedcba9876543210",
      },
      node: "/usr/local/bin/node",
    });
    await settled(dp);
    assert.deepEqual(
      calls.slice(first).map((c) => c.token),
      [],
      "no lookup",
    );
    const vms = all.slice(start).filter((r) => r.type === "aws:ec2/instance:Instance");
    assert.deepEqual(vms.map((vm) => vm.inputs.ami).sort(), [
      "ami-0123456789abcdef0",
      "ami-0fedcba9876543210",
    ]);
    for (const vm of vms) {
      const userData = vm.inputs.userData as string;
      assert.ok(userData.includes("/usr/local/bin/node"), "runs the Node on the image");
      assert.ok(!userData.includes(NODE_RUNTIME.url), "fetches no Node");
      assert.ok(checksHash(userData, bundleKey, bundle.sha256), "still checks the bundle");
    }
    assert.equal(
      all.slice(start).filter((r) => r.type === "pulumi:providers:aws").length,
      2,
      "no lookup provider",
    );
    assert.throws(
      () =>
        new AwsDataplane("half", {
          ...args,
          images: { "aws:us-east-1": "ami-0123456789abcdef0" },
          node: "/usr/bin/node",
        }),
      /node \/usr\/bin\/node is a Node on your own image, but aws:us-west-2 has none: give its AMI/,
    );
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
