import { createHash } from "node:crypto";
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import {
  calls,
  descendants,
  registered as all,
  settled,
  testBundle,
  value,
} from "../../helpers/mocks";
import { checksHash, inputsOfBuilds } from "../../helpers/builds";
import type { AzureDataplaneArgs } from "../../../components/azure";
import { NODE_RUNTIME } from "../../../gateway-image/node-runtime";
import { planDirect } from "../../../planner/direct";
import { buildModel } from "../../../planner/model";

const SUB = "00000000-0000-0000-0000-000000000000";
const ACCOUNT = `/subscriptions/${SUB}/resourceGroups/data/providers/Microsoft.Storage/storageAccounts/acct`;

/*
 * The Azure dataplane under Pulumi's mocks: exact resources for two regions, each gateway booting
 * Canonical's Ubuntu 24.04 LTS marketplace image and fetching the gateway bundle from the stack's private
 * artifacts account, which only the gateways' identity may read; NSG sources exactly the peers and the
 * client, blob roles on exactly the containers, self-deletion scoped to each VM, nothing outside the
 * component.
 */
describe("components/azure: the dataplane under mocks", function () {
  this.timeout(30_000);
  let root: pulumi.ComponentResource;
  let gateways: Array<{ id: string; host: string }>;
  const mine = () => all.filter((r) => r.name === "adp" || r.name.startsWith("adp-"));
  const count = (type: string) => mine().filter((r) => r.type === type).length;
  // Resource options are invisible to the mocks: a transformation records them as each child registers.
  const options = new Map<string, pulumi.CustomResourceOptions>();
  const recordOptions: pulumi.ResourceTransformation = ({ name, opts }) => {
    options.set(name, opts);
    return undefined;
  };

  const bundle = testBundle();
  const bundleKey = `skyplane-gateway/${bundle.sha256}/skyplane-gateway-0.0.0-test-linux-x64.tar.gz`;
  const args: AzureDataplaneArgs = {
    topology: planDirect({ src: "azure:eastus", dsts: ["azure:westeurope"] }, buildModel()),
    subscriptionId: SUB,
    tenantId: "11111111-1111-1111-1111-111111111111",
    token: pulumi.secret("the-token-value"),
    key: pulumi.secret("the-key-value"),
    clientCidr: "203.0.113.7/32",
    bundle,
    nodeRuntime: NODE_RUNTIME,
    storageAccountId: ACCOUNT,
    readBuckets: ["src"],
    writeBuckets: ["dst"],
    sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample skyplane",
    expireAt: Date.UTC(2026, 10, 27, 14),
  };
  const script = (vm: { inputs: Record<string, unknown> }) =>
    Buffer.from((vm.inputs.osProfile as { customData: string }).customData, "base64").toString(
      "utf8",
    );

  before(async () => {
    const { AzureDataplane } = await import("../../../components/azure");
    const first = calls.length;
    const dp = new AzureDataplane("adp", args, { transformations: [recordOptions] });
    root = dp;
    gateways = await value(dp.gateways);
    // Every resource of the component is registered: the mocks saw exactly these.
    assert.equal(await settled(dp), mine().length);
    assert.deepEqual(calls.slice(first), [], "a marketplace image needs no lookup");
  });

  it("makes exactly the resources of two regions with one gateway each", () => {
    const expected: Record<string, number> = {
      "azure-native:resources:ResourceGroup": 1,
      "azure-native:network:PublicIPAddress": 2,
      "azure-native:managedidentity:UserAssignedIdentity": 1,
      "azure-native:authorization:RoleAssignment": 6,
      "azure-native:storage:StorageAccount": 1,
      "azure-native:storage:BlobContainer": 1,
      "azure-native:storage:Blob": 1,
      "azure-native:keyvault:Vault": 1,
      "azure-native:devtestlab:GlobalSchedule": 2,
      "azure-native:keyvault:Secret": 1,
      "azure-native:network:VirtualNetwork": 2,
      "azure-native:network:Subnet": 2,
      "azure-native:network:NetworkSecurityGroup": 2,
      "azure-native:network:NetworkInterface": 2,
      "azure-native:compute:VirtualMachine": 2,
    };
    assert.deepEqual(Object.fromEntries(Object.keys(expected).map((t) => [t, count(t)])), expected);
    assert.equal(
      mine().filter((r) => !r.type.startsWith("skyplane:")).length,
      Object.values(expected).reduce((a, b) => a + b, 0),
    );
    assert.deepEqual(
      gateways.map((g) => g.id),
      ["azure-eastus-0", "azure-westeurope-0"],
    );
  });

  it("opens only the gateway ports: data to exactly the peers, control to the client, never the world", () => {
    for (const nsg of mine().filter(
      (r) => r.type === "azure-native:network:NetworkSecurityGroup",
    )) {
      const rules = nsg.inputs.securityRules as Array<{
        name: string;
        destinationPortRange: string;
        sourceAddressPrefixes: string[];
        access: string;
      }>;
      assert.deepEqual(
        rules.map((r) => [r.name, r.destinationPortRange, r.access]),
        [
          ["skyplane-data", "8081", "Allow"],
          ["skyplane-control", "8080", "Allow"],
        ],
      );
      assert.equal(rules[0].sourceAddressPrefixes.length, 2);
      assert.ok(rules[0].sourceAddressPrefixes.every((p) => /^198\.51\.100\.\d+\/32$/.test(p)));
      assert.deepEqual(rules[1].sourceAddressPrefixes, ["203.0.113.7/32"]);
      assert.ok(
        rules.every(
          (r) => !r.sourceAddressPrefixes.some((p) => ["*", "0.0.0.0/0", "Internet"].includes(p)),
        ),
      );
    }
  });

  it("grants blob roles on exactly the containers, the secret to the gateways, and each VM its own deletion", () => {
    const grants = mine()
      .filter((r) => r.type === "azure-native:authorization:RoleAssignment")
      .map((r) => `${String(r.inputs.roleDefinitionId).split("/").pop()} ${r.inputs.scope}`)
      .sort();
    assert.deepEqual(grants, [
      `2a2b9908-6ea1-4ae2-8e65-a410df84e7d1 ${ACCOUNT}/blobServices/default/containers/src`,
      `2a2b9908-6ea1-4ae2-8e65-a410df84e7d1 adp-artifacts-account-id/blobServices/default/containers/skyplane-artifacts`,
      "4633458b-17de-408a-b874-0445c86b69e6 adp-secret-id",
      "9980e02c-c2be-4d73-94e8-173b1dc7cf3c adp-azure-eastus-0-vm-id",
      "9980e02c-c2be-4d73-94e8-173b1dc7cf3c adp-azure-westeurope-0-vm-id",
      `ba92f5b4-2d11-453d-a403-e96b0029c9fe ${ACCOUNT}/blobServices/default/containers/dst`,
    ]);
  });

  it("boots Canonical's Ubuntu 24.04 LTS marketplace image, its newest version (a reference that never changes)", () => {
    const vms = mine().filter((r) => r.type === "azure-native:compute:VirtualMachine");
    assert.equal(vms.length, 2);
    for (const vm of vms)
      assert.deepEqual((vm.inputs.storageProfile as { imageReference: unknown }).imageReference, {
        publisher: "Canonical",
        offer: "ubuntu-24_04-lts",
        sku: "server",
        version: "latest",
      });
  });

  it("uploads the bundle under its sha256 to the stack's own account: no public access, HTTPS only, encrypted", async () => {
    const [account] = mine().filter((r) => r.type === "azure-native:storage:StorageAccount");
    assert.deepEqual(
      { ...account.inputs, tags: undefined, accountName: undefined },
      {
        resourceGroupName: "adp-rg",
        location: "eastus",
        kind: "StorageV2",
        sku: { name: "Standard_LRS" },
        allowBlobPublicAccess: false,
        enableHttpsTrafficOnly: true,
        minimumTlsVersion: "TLS1_2",
        encryption: {
          keySource: "Microsoft.Storage",
          services: { blob: { enabled: true, keyType: "Account" } },
        },
        tags: undefined,
        accountName: undefined,
      },
    );
    assert.match(String(account.inputs.accountName), /^[a-z0-9]{3,24}$/);
    const [container] = mine().filter((r) => r.type === "azure-native:storage:BlobContainer");
    assert.deepEqual(container.inputs, {
      resourceGroupName: "adp-rg",
      accountName: account.inputs.accountName,
      containerName: "skyplane-artifacts",
      publicAccess: "None",
    });
    const [blob] = mine().filter((r) => r.type === "azure-native:storage:Blob");
    assert.equal(
      blob.inputs.blobName,
      `skyplane-gateway/${bundle.sha256}/skyplane-gateway-0.0.0-test-linux-x64.tar.gz`,
    );
    assert.equal(blob.inputs.containerName, "skyplane-artifacts");
    assert.equal(await (blob.inputs.source as { path: Promise<string> }).path, bundle.path);
  });

  it("lets only the gateways' identity read the artifacts container, and opens no storage to the public", () => {
    const storage = mine().filter((r) => r.type.startsWith("azure-native:storage:"));
    assert.equal(storage.length, 3);
    const account = storage.find((r) => r.type.endsWith(":StorageAccount"));
    const container = storage.find((r) => r.type.endsWith(":BlobContainer"));
    assert.equal(account?.inputs.allowBlobPublicAccess, false);
    assert.equal(container?.inputs.publicAccess, "None");
    const onArtifacts = mine().filter(
      (r) =>
        r.type === "azure-native:authorization:RoleAssignment" &&
        String(r.inputs.scope).startsWith("adp-artifacts-"),
    );
    assert.deepEqual(
      onArtifacts.map((r) => r.inputs),
      [
        {
          principalId: "principal-adp-identity-id",
          principalType: "ServicePrincipal",
          roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1`,
          scope: "adp-artifacts-account-id/blobServices/default/containers/skyplane-artifacts",
        },
      ],
    );
  });

  it("boots gateways from cloud-init custom data with no secret in it, tagged with their expiry", () => {
    for (const vm of mine().filter((r) => r.type === "azure-native:compute:VirtualMachine")) {
      const text = script(vm);
      assert.match(text, /^#cloud-config/);
      assert.ok(!text.includes("the-token-value") && !text.includes("the-key-value"));
      // The bundle's hash is in the script as what to check, not only as part of the object's key.
      assert.ok(
        checksHash(text, bundleKey, bundle.sha256),
        `${vm.name} checks the bundle's sha256`,
      );
      assert.ok(text.includes(bundleKey), `${vm.name} fetches the bundle's object`);
      assert.ok(text.includes("skyplane-artifacts"), vm.name);
      assert.ok(text.includes(NODE_RUNTIME.sha256), `${vm.name} checks Node's sha256`);
      assert.equal(vm.inputs.userData, undefined, "cloud-init reads custom data on Azure");
      assert.equal(
        (vm.inputs.tags as Record<string, string>)["skyplane-expires"],
        "2026-11-27T14:00:00.000Z",
      );
      assert.equal((vm.inputs.hardwareProfile as { vmSize: string }).vmSize, "Standard_D32_v5");
    }
  });

  it("deallocates each VM at its expiry by Azure's own auto-shutdown schedule", () => {
    const vms = mine().filter((r) => r.type === "azure-native:compute:VirtualMachine");
    const schedules = mine().filter((r) => r.type === "azure-native:devtestlab:GlobalSchedule");
    assert.equal(schedules.length, vms.length);
    for (const s of schedules) {
      // Azure finds a VM's auto-shutdown by this exact name; the mocks name a VM after its resource.
      const vm = String(s.inputs.targetResourceId).replace(/-id$/, "");
      assert.ok(
        vms.some((v) => v.name === vm),
        vm,
      );
      assert.equal(s.inputs.name, `shutdown-computevm-${vm}`);
      assert.deepEqual(
        { ...s.inputs, name: undefined, targetResourceId: undefined, tags: undefined },
        {
          name: undefined,
          targetResourceId: undefined,
          tags: undefined,
          resourceGroupName: "adp-rg",
          location: vm.includes("eastus") ? "eastus" : "westeurope",
          taskType: "ComputeVmShutdownTask",
          status: "Enabled",
          timeZoneId: "UTC",
          dailyRecurrence: { time: "1400" },
        },
      );
    }
  });

  it("names its Key Vault validly, apart from another subscription's and from its own earlier lives", () => {
    const vault = mine().find((r) => r.type === "azure-native:keyvault:Vault");
    const name = String(vault?.inputs.vaultName);
    assert.match(name, /^[a-z][a-z0-9]{2,23}$/);
    assert.ok(name.startsWith("spadp"), name);
    // A destroyed vault keeps its name for its soft-delete retention: a name fixed by subscription and
    // dataplane alone would collide at the next provision. The resource group's name (which the engine
    // draws afresh, with a random suffix, at each creation) is part of the hash.
    const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 10);
    assert.notEqual(name.slice(-10), hash(`${SUB}/adp`), "not fixed per dataplane name");
    assert.equal(name.slice(-10), hash(`${SUB}/adp/adp-rg`));
    assert.equal(
      (vault?.inputs.properties as { softDeleteRetentionInDays: number }).softDeleteRetentionInDays,
      7,
      "the shortest retention Azure allows",
    );
  });

  it("rounds the auto-shutdown up to the minute and draws a new vault name for each resource group", async () => {
    const { autoShutdownTime, vaultName } = await import("../../../components/azure");
    assert.equal(autoShutdownTime(Date.UTC(2026, 10, 27, 9, 5)), "0905");
    assert.equal(autoShutdownTime(Date.UTC(2026, 10, 27, 23, 59, 0, 1)), "0000", "never early");
    const first = vaultName(SUB, "skyplane-aws-us-east-1--azure-westeurope", "dp-rg1a2b3c4d");
    const again = vaultName(SUB, "skyplane-aws-us-east-1--azure-westeurope", "dp-rg9f8e7d6c");
    assert.match(first, /^spskyplaneawsu[0-9a-f]{10}$/);
    assert.notEqual(first, again, "a provision after a destroy gets a new name");
  });

  it("replaces a VM whose boot script changes (a new expiry), old first, as cloud-init runs only at first boot", () => {
    const vms = mine().filter((r) => r.type === "azure-native:compute:VirtualMachine");
    assert.equal(vms.length, 2);
    for (const vm of vms) {
      const opts = options.get(vm.name);
      assert.deepEqual(opts?.replaceOnChanges, ["osProfile.customData"], vm.name);
      // Its network interface belongs to one VM at a time, and outlives the old VM for the new one.
      assert.equal(opts?.deleteBeforeReplace, true, vm.name);
      const profile = vm.inputs.networkProfile as {
        networkInterfaces: Array<{ deleteOption: string }>;
      };
      assert.equal(profile.networkInterfaces[0].deleteOption, "Detach");
    }
  });

  it("renders byte-identical VM inputs for an unchanged bundle (a warm stack stays), and new ones for a new bundle", async () => {
    const { AzureDataplane } = await import("../../../components/azure");
    const other = testBundle("another gateway bundle");
    const [a1, a2, b] = await inputsOfBuilds(
      [bundle, bundle, other].map(
        (bundle) => () => new AzureDataplane("awarm", { ...args, bundle }),
      ),
      "azure-native:compute:VirtualMachine",
    );
    assert.deepEqual(Object.keys(a1).sort(), [
      "awarm-azure-eastus-0-vm",
      "awarm-azure-westeurope-0-vm",
    ]);
    const decoded = (inputs: string) => {
      const vm = JSON.parse(inputs) as { osProfile: { customData: string } };
      return JSON.stringify({
        ...vm,
        osProfile: { ...vm.osProfile, customData: script({ inputs: vm }) },
      });
    };
    for (const vm of Object.keys(a1)) {
      assert.equal(a2[vm], a1[vm], `${vm}: the same bytes on the next up`);
      assert.notEqual(b[vm], a1[vm], `${vm}: a new bundle is a new VM`);
      assert.equal(
        decoded(b[vm]),
        decoded(a1[vm]).replaceAll(bundle.sha256, other.sha256),
        "and only its hash differs",
      );
    }
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
