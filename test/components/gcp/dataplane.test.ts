import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import {
  calls,
  Called,
  descendants,
  registered as all,
  settled,
  testBundle,
  value,
} from "../../helpers/mocks";
import { checksHash, inputsOfBuilds } from "../../helpers/builds";
import type { GcpDataplaneArgs } from "../../../components/gcp";
import { dataplaneId } from "../../../components/gcp/naming";
import { NODE_RUNTIME } from "../../../gateway-image/node-runtime";
import { planDirect } from "../../../planner/direct";
import { buildModel } from "../../../planner/model";

/*
 * The GCP dataplane under Pulumi's mocks: a two-region topology produces exactly the expected resources,
 * each gateway boots the newest Ubuntu 24.04 LTS image (looked up at `up`) and fetches the gateway bundle
 * from the stack's private artifacts bucket, which only the gateways' account may read, on exactly the
 * bundle's prefix; firewall sources are exactly the peers and the client, roles hold exact permissions on
 * exact buckets, and every resource hangs under the component.
 */
describe("components/gcp: the dataplane under mocks", function () {
  this.timeout(30_000);
  let root: pulumi.ComponentResource;
  let gateways: Array<{ id: string; host: string }>;
  const mine = () => all.filter((r) => r.name === "gdp" || r.name.startsWith("gdp-"));
  // The mocks' project and stack (set once for the whole process by the mocks helper).
  const member = `serviceAccount:skyplane-${dataplaneId(pulumi.getProject(), pulumi.getStack(), "gdp")}@project.iam.gserviceaccount.com`;
  const count = (type: string) => mine().filter((r) => r.type === type).length;
  // Resource options are invisible to the mocks: a transformation records them as each child registers.
  const options = new Map<string, pulumi.CustomResourceOptions>();
  const recordOptions: pulumi.ResourceTransformation = ({ name, opts }) => {
    options.set(name, opts);
    return undefined;
  };

  const bundle = testBundle();
  const bundleKey = `skyplane-gateway/${bundle.sha256}/skyplane-gateway-0.0.0-test-linux-x64.tar.gz`;
  let lookups: Called[];
  const args: GcpDataplaneArgs = {
    topology: planDirect({ src: "gcp:us-central1-a", dsts: ["gcp:europe-west1-b"] }, buildModel()),
    project: "my-project",
    token: pulumi.secret("the-token-value"),
    key: pulumi.secret("the-key-value"),
    clientCidr: "203.0.113.7/32",
    bundle,
    nodeRuntime: NODE_RUNTIME,
    readBuckets: ["src-bucket"],
    writeBuckets: ["dst-bucket"],
    expireAt: Date.UTC(2026, 10, 27, 14),
  };
  const STOCK =
    "https://www.googleapis.com/compute/v1/projects/ubuntu-os-cloud/global/images/ubuntu-2404-lts-amd64-v20260101";

  before(async () => {
    const { GcpDataplane } = await import("../../../components/gcp");
    const first = calls.length;
    const dp = new GcpDataplane("gdp", args, { transformations: [recordOptions] });
    root = dp;
    gateways = await value(dp.gateways);
    // Every resource of the component is registered: the mocks saw exactly these.
    assert.equal(await settled(dp), mine().length);
    lookups = calls.slice(first);
  });

  it("makes exactly the resources of two regions with one gateway each", () => {
    const expected: Record<string, number> = {
      "gcp:compute/address:Address": 2,
      "gcp:compute/network:Network": 1,
      "gcp:compute/subnetwork:Subnetwork": 2,
      "gcp:compute/firewall:Firewall": 2,
      "gcp:serviceaccount/account:Account": 1,
      "gcp:projects/iAMCustomRole:IAMCustomRole": 3,
      "gcp:storage/bucketIAMMember:BucketIAMMember": 3,
      "gcp:storage/bucket:Bucket": 1,
      "gcp:storage/bucketObject:BucketObject": 1,
      "gcp:secretmanager/secret:Secret": 1,
      "gcp:secretmanager/secretVersion:SecretVersion": 1,
      "gcp:secretmanager/secretIamMember:SecretIamMember": 1,
      "gcp:compute/instance:Instance": 2,
      "gcp:compute/instanceIAMMember:InstanceIAMMember": 2,
    };
    assert.deepEqual(Object.fromEntries(Object.keys(expected).map((t) => [t, count(t)])), expected);
    assert.equal(
      mine().filter((r) => !r.type.startsWith("skyplane:")).length,
      Object.values(expected).reduce((a, b) => a + b, 0),
    );
    assert.deepEqual(
      gateways.map((g) => g.id),
      ["gcp-europe-west1-b-0", "gcp-us-central1-a-0"],
    );
  });

  it("opens only the gateway ports: data to exactly the peers, control to the client, never the world", () => {
    const rules = Object.fromEntries(
      mine()
        .filter((r) => r.type === "gcp:compute/firewall:Firewall")
        .map((r) => [
          r.name,
          r.inputs as {
            allows: Array<{ ports: string[] }>;
            sourceRanges: string[];
            targetTags: string[];
          },
        ]),
    );
    assert.deepEqual(
      Object.keys(rules).sort(),
      ["gdp-fw-control", "gdp-fw-data"],
      "no SSH rule unless asked",
    );
    assert.deepEqual(rules["gdp-fw-data"].allows, [{ protocol: "tcp", ports: ["8081"] }]);
    assert.equal(rules["gdp-fw-data"].sourceRanges.length, 2);
    assert.ok(
      rules["gdp-fw-data"].sourceRanges.every((s) => /^198\.51\.100\.\d+\/32$/.test(s)),
      "each peer's address",
    );
    assert.deepEqual(rules["gdp-fw-control"].sourceRanges, ["203.0.113.7/32"]);
    assert.ok(Object.values(rules).every((r) => !r.sourceRanges.includes("0.0.0.0/0")));
  });

  it("names account, secret and roles per stack, with role ids never reused when the account is made again", () => {
    const [account] = mine().filter((r) => r.type === "gcp:serviceaccount/account:Account");
    const [secret] = mine().filter((r) => r.type === "gcp:secretmanager/secret:Secret");
    const id = dataplaneId(pulumi.getProject(), pulumi.getStack(), "gdp");
    // The stack's name, then a hash of project, stack and component.
    assert.match(id, new RegExp(`^d${pulumi.getStack()}[0-9a-f]{8}$`));
    assert.deepEqual(
      [account.inputs.accountId, secret.inputs.secretId],
      [`skyplane-${id}`, `skyplane-${id}`],
    );
    const roleIds = mine()
      .filter((r) => r.type === "gcp:projects/iAMCustomRole:IAMCustomRole")
      .map((r) => String(r.inputs.roleId));
    assert.equal(roleIds.length, 3);
    const parts = roleIds.map((r) =>
      /^skyplane_(d[a-z0-9]+)_(read|write|self_delete)_(1\d{20})$/.exec(r),
    );
    assert.ok(
      parts.every((m) => m !== null),
      roleIds.join(" "),
    );
    assert.deepEqual(new Set(parts.map((m) => m?.[1])), new Set([id]));
    assert.equal(new Set(parts.map((m) => m?.[3])).size, 1, "one account's unique id in all three");
    assert.ok(roleIds.every((r) => r.length <= 64));
  });

  it("grants exact permissions on exact buckets, the secret to the gateways, and self-deletion per instance", () => {
    const roles = Object.fromEntries(
      mine()
        .filter((r) => r.type === "gcp:projects/iAMCustomRole:IAMCustomRole")
        .map((r) => [
          String(r.inputs.roleId).split("_").slice(2, -1).join("_"),
          r.inputs.permissions,
        ]),
    );
    assert.deepEqual(roles, {
      read: ["storage.objects.get", "storage.objects.list"],
      write: [
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
      ],
      self_delete: ["compute.instances.delete"],
    });
    const roleName = (kind: string) =>
      `projects/p/roles/${String(mine().find((r) => r.type === "gcp:projects/iAMCustomRole:IAMCustomRole" && String(r.inputs.roleId).includes(`_${kind}_`))?.inputs.roleId)}`;
    const bindings = mine()
      .filter((r) => r.type === "gcp:storage/bucketIAMMember:BucketIAMMember")
      .map((r) => `${r.inputs.bucket} ${r.inputs.role}`)
      .sort();
    assert.deepEqual(bindings, [
      `dst-bucket ${roleName("write")}`,
      "gdp-artifacts-bucket-bucket-name roles/storage.objectViewer",
      `src-bucket ${roleName("read")}`,
    ]);
    const [access] = mine().filter(
      (r) => r.type === "gcp:secretmanager/secretIamMember:SecretIamMember",
    );
    assert.equal(access.inputs.role, "roles/secretmanager.secretAccessor");
    assert.equal(access.inputs.member, member);
  });

  it("looks up the newest Ubuntu 24.04 LTS image once at `up`, boots it, and keeps a warm VM on a newer one", () => {
    assert.deepEqual(lookups, [
      {
        token: "gcp:compute/getImage:getImage",
        inputs: { family: "ubuntu-2404-lts-amd64", project: "ubuntu-os-cloud" },
      },
    ]);
    const vms = mine().filter((r) => r.type === "gcp:compute/instance:Instance");
    assert.equal(vms.length, 2);
    for (const vm of vms) {
      assert.deepEqual(vm.inputs.bootDisk, { initializeParams: { image: STOCK } });
      assert.deepEqual(options.get(vm.name)?.ignoreChanges, ["bootDisk.initializeParams.image"]);
    }
  });

  it("uploads the bundle to the stack's own bucket under its sha256: no public access, uniform access, deleted with the stack", async () => {
    const [bucket] = mine().filter((r) => r.type === "gcp:storage/bucket:Bucket");
    assert.deepEqual(
      { ...bucket.inputs, labels: undefined },
      {
        project: "my-project",
        location: "europe-west1",
        uniformBucketLevelAccess: true,
        publicAccessPrevention: "enforced",
        forceDestroy: true,
        labels: undefined,
      },
    );
    assert.equal((bucket.inputs.labels as Record<string, string>)["skyplane-dataplane"], "gdp");
    const [object] = mine().filter((r) => r.type === "gcp:storage/bucketObject:BucketObject");
    assert.equal(object.inputs.bucket, "gdp-artifacts-bucket-bucket-name");
    assert.equal(
      object.inputs.name,
      `skyplane-gateway/${bundle.sha256}/skyplane-gateway-0.0.0-test-linux-x64.tar.gz`,
    );
    assert.equal(await (object.inputs.source as { path: Promise<string> }).path, bundle.path);
  });

  it("lets only the gateways' account read it, on exactly the bundle's prefix; nothing is granted to all users", () => {
    const members = mine().filter((r) => /^gcp:.*iam(member|binding):/i.test(r.type));
    assert.equal(members.length, 6, "bucket, secret and instance grants");
    assert.deepEqual(
      members.filter((m) => /^all(Authenticated)?Users$/.test(String(m.inputs.member))),
      [],
    );
    assert.ok(
      members.every((m) => m.inputs.member === member),
      "every grant is the gateways' account's",
    );
    const onArtifacts = members.filter(
      (m) => m.inputs.bucket === "gdp-artifacts-bucket-bucket-name",
    );
    assert.deepEqual(
      onArtifacts.map((m) => ({ ...m.inputs })),
      [
        {
          bucket: "gdp-artifacts-bucket-bucket-name",
          role: "roles/storage.objectViewer",
          member: member,
          condition: {
            title: "skyplane-gateway-bundle",
            description: "the gateway bundle's prefix only",
            expression: `resource.name.startsWith("projects/_/buckets/gdp-artifacts-bucket-bucket-name/objects/skyplane-gateway/${bundle.sha256}/")`,
          },
        },
      ],
    );
  });

  it("boots gateways from cloud-init with no secret in the metadata, labelled with their expiry", () => {
    for (const vm of mine().filter((r) => r.type === "gcp:compute/instance:Instance")) {
      const userData = (vm.inputs.metadata as Record<string, string>)["user-data"];
      assert.match(userData, /^#cloud-config/);
      assert.ok(!userData.includes("the-token-value") && !userData.includes("the-key-value"));
      // The bundle's hash is in the script as what to check, not only as part of the object's key.
      assert.ok(
        checksHash(userData, bundleKey, bundle.sha256),
        `${vm.name} checks the bundle's sha256`,
      );
      assert.ok(userData.includes(bundleKey), `${vm.name} fetches the bundle's object`);
      assert.ok(userData.includes("gdp-artifacts-bucket-bucket-name"), vm.name);
      assert.ok(userData.includes(NODE_RUNTIME.sha256), `${vm.name} checks Node's sha256`);
      assert.equal((vm.inputs.labels as Record<string, string>)["skyplane-expires"], "1795788000");
      assert.equal(vm.inputs.machineType, "n2-standard-32");
      // Compute Engine deletes the VM at its expiry even if the VM cannot (the self-delete is a second line).
      assert.deepEqual(vm.inputs.scheduling, {
        terminationTime: "2026-11-27T14:00:00Z",
        instanceTerminationAction: "DELETE",
      });
    }
  });

  it("gives Compute Engine the expiry in RFC 3339, rounded up to the second", async () => {
    const { terminationTime } = await import("../../../components/gcp");
    assert.equal(terminationTime(Date.UTC(2026, 10, 27, 14, 0, 0, 1)), "2026-11-27T14:00:01Z");
    assert.equal(terminationTime(Date.UTC(2026, 0, 2, 3, 4, 5)), "2026-01-02T03:04:05Z");
  });

  it("replaces a VM whose boot script changes (a new expiry), old first, as cloud-init runs only at first boot", () => {
    const vms = mine().filter((r) => r.type === "gcp:compute/instance:Instance");
    assert.equal(vms.length, 2);
    for (const vm of vms) {
      const opts = options.get(vm.name);
      assert.deepEqual(opts?.replaceOnChanges, ["metadata"], vm.name);
      // Its static address (on Azure: its network interface) belongs to one VM at a time.
      assert.equal(opts?.deleteBeforeReplace, true, vm.name);
    }
  });

  it("renders byte-identical VM inputs for an unchanged bundle (a warm stack stays), and new ones for a new bundle", async () => {
    const { GcpDataplane } = await import("../../../components/gcp");
    const other = testBundle("another gateway bundle");
    const [a1, a2, b] = await inputsOfBuilds(
      [bundle, bundle, other].map((bundle) => () => new GcpDataplane("gwarm", { ...args, bundle })),
      "gcp:compute/instance:Instance",
    );
    assert.deepEqual(Object.keys(a1).sort(), [
      "gwarm-gcp-europe-west1-b-0-vm",
      "gwarm-gcp-us-central1-a-0-vm",
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

  it("boots an image of yours when you give one, with the Node on it, and looks up none", async () => {
    const { GcpDataplane } = await import("../../../components/gcp");
    const first = calls.length;
    const start = all.length;
    const dp = new GcpDataplane("gown", {
      ...args,
      image: "projects/my-project/global/images/skyplane-gateway",
      node: "/usr/bin/node",
    });
    await settled(dp);
    assert.deepEqual(calls.slice(first), [], "no lookup");
    const vms = all.slice(start).filter((r) => r.type === "gcp:compute/instance:Instance");
    assert.equal(vms.length, 2);
    for (const vm of vms) {
      assert.deepEqual(vm.inputs.bootDisk, {
        initializeParams: { image: "projects/my-project/global/images/skyplane-gateway" },
      });
      const userData = (vm.inputs.metadata as Record<string, string>)["user-data"];
      assert.ok(userData.includes("/usr/bin/node") && !userData.includes(NODE_RUNTIME.url));
    }
    assert.throws(
      () => new GcpDataplane("ghalf", { ...args, node: "/usr/bin/node" }),
      /node \/usr\/bin\/node is a Node on your own image: give the image/,
    );
  });

  it("hangs every resource under the component, so destroy leaves nothing", () => {
    const reachable = descendants(root);
    assert.deepEqual(
      mine()
        .filter((r) => !r.type.startsWith("skyplane:") && !reachable.has(r.name))
        .map((r) => r.name),
      [],
    );
  });
});
