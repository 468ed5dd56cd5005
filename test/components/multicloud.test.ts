import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import {
  AZURE_TEST_SETTINGS,
  registered as all,
  registration,
  settled,
  testBundle,
  value,
} from "../helpers/mocks";
import { CloudDataplanes } from "../../components/multicloud";
import { bucketsOn, cloudsOf, missingCloudSettings } from "../../planner/cloud-settings";
import type { CloudSettings } from "../../planner/cloud-settings";
import type { ProvisionedGateway } from "../../planner/topology";
import { planDirect } from "../../planner/direct";
import { buildModel } from "../../planner/model";

/*
 * The program of a cloud route's stack under mocks: the settings it checks, and one stack whose gateways
 * span AWS and Azure, each cloud's firewall and programs knowing the other's addresses.
 */
describe("components/multicloud: a route's gateways across clouds", function () {
  this.timeout(30_000);
  const topology = planDirect({ src: "aws:us-east-1", dsts: ["azure:westeurope"] }, buildModel());
  const settings: CloudSettings = {
    clientCidr: "203.0.113.7/32",
    buckets: { read: ["s3://src-bucket/data/"], write: ["azure://acct/dst-container/data/"] },
    expireAt: Date.UTC(2026, 10, 27, 14),
    azure: AZURE_TEST_SETTINGS,
  };

  it("names exactly the settings a topology lacks, as config paths, and never an image", () => {
    assert.deepEqual(cloudsOf(topology), ["aws", "azure"]);
    assert.deepEqual(missingCloudSettings(topology, settings), []);
    assert.deepEqual(missingCloudSettings(topology, { clientCidr: "203.0.113.7/32" }), [
      "buckets",
      "expireAt",
      "azure.subscriptionId",
      "azure.tenantId",
      "azure.sshPublicKey",
    ]);
    // The storage account of Azure containers, only when the gateways read or write some.
    const { storageAccountId: _, ...noAccount } = AZURE_TEST_SETTINGS;
    assert.deepEqual(missingCloudSettings(topology, { ...settings, azure: noAccount }), [
      "azure.storageAccountId",
    ]);
    assert.deepEqual(
      missingCloudSettings(topology, {
        ...settings,
        buckets: { read: ["s3://src-bucket/"], write: ["s3://dst-bucket/"] },
        azure: noAccount,
      }),
      [],
      "an Azure relay reads no container",
    );
    const gcp = planDirect(
      { src: "gcp:us-central1-a", dsts: ["gcp:europe-west1-b"] },
      buildModel(),
    );
    assert.deepEqual(missingCloudSettings(gcp, settings), ["gcp.project"]);
    assert.deepEqual(missingCloudSettings(gcp, { ...settings, gcp: { project: "p" } }), []);
    // A Node on your own image needs that image.
    assert.deepEqual(
      missingCloudSettings(gcp, { ...settings, gcp: { project: "p", node: "/usr/bin/node" } }),
      ["gcp.image"],
    );
    assert.deepEqual(
      missingCloudSettings(topology, {
        ...settings,
        aws: { node: "/usr/bin/node" },
        azure: { ...AZURE_TEST_SETTINGS, node: "/usr/bin/node" },
      }),
      ['aws.amis["aws:us-east-1"]', "azure.imageId"],
    );
  });

  it("gives each cloud its own buckets from the store URIs", () => {
    const uris = ["s3://aaa/x", "gs://bbb/", "azure://acct/ccc/k", "s3://aaa/y", "local://lll"];
    assert.deepEqual(bucketsOn("aws", uris), ["aaa"]);
    assert.deepEqual(bucketsOn("gcp", uris), ["bbb"]);
    assert.deepEqual(bucketsOn("azure", uris), ["ccc"]);
  });

  it("runs the stack program on an AWS → Azure route: one component per cloud, wired both ways", async () => {
    const saved = pulumi.runtime.allConfig();
    let gateways: ProvisionedGateway[];
    try {
      pulumi.runtime.setAllConfig({
        "skyplane:topology": JSON.stringify(topology),
        "skyplane:token": "t",
        "skyplane:key": "k",
        "skyplane:cloud": JSON.stringify(settings),
      });
      const program = (await import("../../index")).default as unknown as () => Promise<{
        gateways: pulumi.Output<ProvisionedGateway[]>;
      }>;
      gateways = await value((await program()).gateways);
    } finally {
      pulumi.runtime.setAllConfig(saved);
    }
    // The program's component has no parent to reach it through, so its resources are awaited by name:
    // those that a CloudDataplanes of the same route registers, named "dataplane" instead of "ref".
    const reference = new CloudDataplanes("ref", {
      topology,
      settings,
      token: pulumi.secret("t"),
      key: pulumi.secret("k"),
      bundle: testBundle(),
    });
    const expected = await settled(reference);
    const refs = all.filter((r) => r.name === "ref" || r.name.startsWith("ref-"));
    assert.equal(refs.length, expected, "the reference's resources are all named after it");
    await Promise.all(refs.map((r) => registration(r.type, r.name.replace(/^ref/, "dataplane"))));
    const program = all.filter((r) => r.name === "dataplane" || r.name.startsWith("dataplane-"));
    assert.equal(program.length, expected, "the program built what its component builds");
    assert.deepEqual(
      gateways.map((g) => [g.id, g.source, g.controlPort, g.dataPort]),
      [
        ["aws-us-east-1-0", true, 8080, 8081],
        ["azure-westeurope-0", false, 8080, 8081],
      ],
    );
    const [awsHost, azureHost] = gateways.map((g) => g.host);
    const of = (type: string) =>
      all.filter((r) => r.name.startsWith("dataplane-") && r.type === type);
    assert.equal(of("aws:ec2/instance:Instance").length, 1);
    assert.equal(of("azure-native:compute:VirtualMachine").length, 1);
    const ingress = of("aws:ec2/securityGroup:SecurityGroup")[0].inputs.ingress as Array<{
      fromPort: number;
      cidrBlocks: string[];
    }>;
    assert.deepEqual(
      [...(ingress.find((r) => r.fromPort === 8081)?.cidrBlocks ?? [])].sort(),
      [`${awsHost}/32`, `${azureHost}/32`].sort(),
    );
    const nsg = of("azure-native:network:NetworkSecurityGroup")[0].inputs.securityRules as Array<{
      name: string;
      sourceAddressPrefixes: string[];
    }>;
    assert.deepEqual(
      [...(nsg.find((r) => r.name === "skyplane-data")?.sourceAddressPrefixes ?? [])].sort(),
      [`${awsHost}/32`, `${azureHost}/32`].sort(),
    );
    const userData = of("aws:ec2/instance:Instance")[0].inputs.userData as string;
    assert.ok(
      userData.includes(`"host": "${azureHost}"`),
      "the AWS source sends to the Azure gateway",
    );
    // Its program may read the jobs' source bucket and nothing else (issue 12, item 2).
    assert.match(userData, /"buckets": \[\s*"s3:\/\/src-bucket"\s*\]/);
    assert.equal(userData.match(/"buckets"/g)?.length, 1, "one grant: the source's");
    const policy = of("aws:iam/rolePolicy:RolePolicy")[0].inputs.policy as string;
    assert.match(policy, /arn:aws:s3:::src-bucket/);
    assert.doesNotMatch(policy, /dst-container/, "AWS is granted only its own buckets");
  });

  it("refuses a stack whose settings lack what its clouds need, naming the config to set", async () => {
    const { CloudDataplanes } = await import("../../components/multicloud");
    assert.throws(
      () =>
        new CloudDataplanes("incomplete", {
          topology,
          settings: { ...settings, azure: { ...AZURE_TEST_SETTINGS, tenantId: "" } },
          token: "t",
          key: "k",
          bundle: testBundle(),
        }),
      /skyplane:cloud lacks azure\.tenantId: set each with pulumi config set --path 'skyplane:cloud\.azure\.tenantId' VALUE/,
    );
  });
});
