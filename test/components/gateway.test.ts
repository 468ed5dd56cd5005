import * as assert from "node:assert/strict";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { checksHash } from "../helpers/builds";
import {
  AZURE_TEST_SETTINGS,
  descendantResources,
  testBundle,
  typeOf,
  value,
} from "../helpers/mocks";
import type { CloudSettings } from "../../planner/cloud-settings";
import type { GatewayOutputs } from "../../components/gateway";
import { planDirect } from "../../planner/direct";
import { buildModel } from "../../planner/model";

/*
 * One shape on every cloud: a route across AWS, GCP and Azure built through the cloud registry, and a
 * local one. Every gateway component registers the same outputs by the same names, and every cloud's
 * VM boots that cloud's stock Ubuntu image and fetches the same gateway bundle.
 */
describe("components: every cloud's gateways, one shape", function () {
  this.timeout(30_000);
  const GATEWAY_OUTPUTS = ["controlPort", "dataPort", "host", "instanceId"];
  const settings: CloudSettings = {
    clientCidr: "203.0.113.7/32",
    buckets: { read: ["s3://src-bucket/"], write: ["gs://dst-bucket/", "azure://acct/dst/"] },
    expireAt: Date.UTC(2026, 10, 27, 14),
    gcp: { project: "p" },
    azure: AZURE_TEST_SETTINGS,
  };
  const bundle = testBundle();
  /** What each gateway component registered as outputs, by its type token. */
  const registeredOutputs = new Map<string, string[][]>();
  let cloud: pulumi.ComponentResource;
  let local: pulumi.ComponentResource;
  let endpoints: Array<{ id: string; host: string; controlPort: number; dataPort: number }>;

  before(async () => {
    // The mocks see no outputs: record what each component hands registerOutputs.
    const proto = pulumi.ComponentResource.prototype as unknown as {
      registerOutputs(this: pulumi.ComponentResource, o?: Record<string, unknown>): void;
    };
    const original = proto.registerOutputs;
    proto.registerOutputs = function (outputs) {
      // Pulumi itself registers a component's `initialize` result (none here): only ours count.
      if (Object.keys(outputs ?? {}).length === 0) return original.call(this, outputs);
      const list = registeredOutputs.get(typeOf(this)) ?? [];
      list.push(Object.keys(outputs ?? {}).sort());
      registeredOutputs.set(typeOf(this), list);
      return original.call(this, outputs);
    };
    try {
      const { CloudDataplanes } = await import("../../components/multicloud");
      const { LocalDataplane } = await import("../../components/local");
      const model = buildModel();
      const dp = new CloudDataplanes("shape", {
        topology: planDirect(
          { src: "aws:us-east-1", dsts: ["gcp:us-central1-a", "azure:westeurope"] },
          model,
        ),
        settings,
        token: pulumi.secret("t"),
        key: pulumi.secret("k"),
        bundle,
      });
      local = new LocalDataplane("shape-local", {
        topology: planDirect({ src: "local:east", dsts: ["local:west"] }, model),
        token: pulumi.secret("t"),
        key: pulumi.secret("k"),
        home: "/nonexistent/skyplane-home",
      });
      cloud = dp;
      endpoints = await value(dp.gateways);
    } finally {
      proto.registerOutputs = original;
    }
  });

  it("registers the same outputs from every gateway component, on every cloud", () => {
    const gatewayTypes = [...registeredOutputs.keys()].filter((t) => /:Gateway$/.test(t)).sort();
    assert.deepEqual(gatewayTypes, [
      "skyplane:aws:Gateway",
      "skyplane:azure:Gateway",
      "skyplane:gcp:Gateway",
      "skyplane:local:Gateway",
    ]);
    for (const type of ["skyplane:aws:Gateway", "skyplane:gcp:Gateway", "skyplane:azure:Gateway"])
      assert.deepEqual(registeredOutputs.get(type), [GATEWAY_OUTPUTS], type);
    const locals = registeredOutputs.get("skyplane:local:Gateway") ?? [];
    assert.equal(locals.length, 2, "both local gateways registered");
    for (const keys of locals)
      assert.deepEqual(
        keys.filter((k) => GATEWAY_OUTPUTS.includes(k)),
        GATEWAY_OUTPUTS,
        "a local gateway registers them too, besides its pid and log file",
      );
    const dataplanes = [...registeredOutputs.keys()].filter((t) => /:Dataplanes?$/.test(t)).sort();
    assert.deepEqual(dataplanes, [
      "skyplane:aws:Dataplane",
      "skyplane:azure:Dataplane",
      "skyplane:cloud:Dataplanes",
      "skyplane:gcp:Dataplane",
      "skyplane:local:Dataplane",
    ]);
    for (const type of dataplanes)
      assert.deepEqual(registeredOutputs.get(type), [["gateways"]], type);
  });

  it("reports where the runner reaches each cloud gateway as its outputs", async () => {
    const gateways = descendantResources(cloud).filter((r) =>
      /^skyplane:(aws|gcp|azure):Gateway$/.test(typeOf(r)),
    ) as unknown as Array<GatewayOutputs & pulumi.Resource>;
    assert.equal(gateways.length, 3, "one gateway per cloud");
    assert.equal(endpoints.length, 3);
    const seen = await Promise.all(
      gateways.map(async (g) => ({
        host: await value(g.host),
        controlPort: await value(g.controlPort),
        dataPort: await value(g.dataPort),
        instanceId: await value(g.instanceId),
      })),
    );
    assert.deepEqual(
      seen.map((g) => `${g.host} ${g.controlPort} ${g.dataPort}`).sort(),
      endpoints.map((e) => `${e.host} ${e.controlPort} ${e.dataPort}`).sort(),
    );
    assert.ok(
      seen.every((g) => /-vm-id$/.test(g.instanceId)),
      "each names its VM",
    );
    assert.equal(descendantResources(local).filter((r) => /:Gateway$/.test(typeOf(r))).length, 2);
  });

  it("boots every cloud's VM from its stock Ubuntu image and has it fetch the same bundle", async () => {
    const vms = descendantResources(cloud).filter((r) =>
      [
        "aws:ec2/instance:Instance",
        "gcp:compute/instance:Instance",
        "azure-native:compute:VirtualMachine",
      ].includes(typeOf(r)),
    );
    const booted: Record<string, { image: unknown; userData: string }> = {};
    for (const vm of vms) {
      const v = vm as unknown as Record<string, pulumi.Output<unknown>>;
      if (typeOf(vm).startsWith("aws:"))
        booted.aws = {
          image: await value(v.ami),
          userData: (await value(v.userData)) as string,
        };
      else if (typeOf(vm).startsWith("gcp:"))
        booted.gcp = {
          image: ((await value(v.bootDisk)) as { initializeParams: { image: string } })
            .initializeParams.image,
          userData: ((await value(v.metadata)) as Record<string, string>)["user-data"],
        };
      else
        booted.azure = {
          image: ((await value(v.storageProfile)) as { imageReference: unknown }).imageReference,
          userData: Buffer.from(
            ((await value(v.osProfile)) as { customData: string }).customData,
            "base64",
          ).toString(),
        };
    }
    assert.deepEqual(Object.keys(booted).sort(), ["aws", "azure", "gcp"]);
    assert.deepEqual(
      Object.fromEntries(Object.entries(booted).map(([name, vm]) => [name, vm.image])),
      {
        aws: "ami-ubuntu-us-east-1",
        gcp: "https://www.googleapis.com/compute/v1/projects/ubuntu-os-cloud/global/images/ubuntu-2404-lts-amd64-v20260101",
        azure: {
          publisher: "Canonical",
          offer: "ubuntu-24_04-lts",
          sku: "server",
          version: "latest",
        },
      },
    );
    for (const [name, vm] of Object.entries(booted))
      assert.ok(
        checksHash(
          vm.userData,
          `skyplane-gateway/${bundle.sha256}/${path.basename(bundle.path)}`,
          bundle.sha256,
        ),
        `${name} fetches the bundle and checks its hash`,
      );
  });
});
