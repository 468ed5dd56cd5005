import { createHash } from "node:crypto";
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { descendants, registered as all, settled, value } from "../../helpers/mocks";
import { planDirect } from "../../../planner/direct";
import { buildModel } from "../../../planner/model";

const SUB = "00000000-0000-0000-0000-000000000000";
const ACCOUNT = `/subscriptions/${SUB}/resourceGroups/data/providers/Microsoft.Storage/storageAccounts/acct`;

/*
 * The Azure dataplane under Pulumi's mocks: exact resources for two regions, NSG sources exactly the peers
 * and the client, blob roles on exactly the containers, self-deletion scoped to each VM, nothing outside
 * the component.
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

  before(async () => {
    const { AzureDataplane } = await import("../../../components/azure");
    const topology = planDirect({ src: "azure:eastus", dsts: ["azure:westeurope"] }, buildModel());
    const dp = new AzureDataplane(
      "adp",
      {
        topology,
        subscriptionId: SUB,
        tenantId: "11111111-1111-1111-1111-111111111111",
        token: pulumi.secret("the-token-value"),
        key: pulumi.secret("the-key-value"),
        clientCidr: "203.0.113.7/32",
        image:
          "/subscriptions/x/resourceGroups/images/providers/Microsoft.Compute/images/skyplane-gateway",
        containerImage: "ghcr.io/skyplane-pulumi/gateway:0.1.0",
        storageAccountId: ACCOUNT,
        readBuckets: ["src"],
        writeBuckets: ["dst"],
        sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample skyplane",
        expireAt: Date.UTC(2026, 10, 27, 14),
      },
      { transformations: [recordOptions] },
    );
    root = dp;
    gateways = await value(dp.gateways);
    // Every resource of the component is registered: the mocks saw exactly these.
    assert.equal(await settled(dp), mine().length);
  });

  it("makes exactly the resources of two regions with one gateway each", () => {
    const expected: Record<string, number> = {
      "azure-native:resources:ResourceGroup": 1,
      "azure-native:network:PublicIPAddress": 2,
      "azure-native:managedidentity:UserAssignedIdentity": 1,
      "azure-native:authorization:RoleAssignment": 5,
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
      "4633458b-17de-408a-b874-0445c86b69e6 adp-secret-id",
      "9980e02c-c2be-4d73-94e8-173b1dc7cf3c adp-azure-eastus-0-vm-id",
      "9980e02c-c2be-4d73-94e8-173b1dc7cf3c adp-azure-westeurope-0-vm-id",
      `ba92f5b4-2d11-453d-a403-e96b0029c9fe ${ACCOUNT}/blobServices/default/containers/dst`,
    ]);
  });

  it("boots gateways from cloud-init user data with no secret in it, tagged with their expiry", () => {
    for (const vm of mine().filter((r) => r.type === "azure-native:compute:VirtualMachine")) {
      const script = Buffer.from(vm.inputs.userData as string, "base64").toString("utf8");
      assert.match(script, /^#cloud-config/);
      assert.match(script, /az vm delete --yes/);
      assert.ok(!script.includes("the-token-value") && !script.includes("the-key-value"));
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
      assert.deepEqual(opts?.replaceOnChanges, ["userData"], vm.name);
      // Its network interface belongs to one VM at a time, and outlives the old VM for the new one.
      assert.equal(opts?.deleteBeforeReplace, true, vm.name);
      const profile = vm.inputs.networkProfile as {
        networkInterfaces: Array<{ deleteOption: string }>;
      };
      assert.equal(profile.networkInterfaces[0].deleteOption, "Detach");
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
