import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { registered as all, settled, testBundle, value } from "../helpers/mocks";
import { NODE_RUNTIME } from "../../gateway-image/node-runtime";
import {
  addressBook,
  boundProgram,
  cloudGateways,
  GatewayEndpoint,
  gatewayEndpoints,
  regionCidrs,
} from "../../components/cloud";
import { planDirect } from "../../planner/direct";
import { buildModel } from "../../planner/model";
import { sendTargets } from "../../planner/program";

describe("components/cloud: what the cloud dataplanes share", () => {
  const awsToGcp = () =>
    planDirect({ src: "aws:us-east-1", dsts: ["gcp:us-central1-a"] }, buildModel());

  it("gives each region of a dataplane its own private /16 with a /24 inside, up to 100 regions", () => {
    const cidrs = Array.from({ length: 100 }, (_, i) => regionCidrs(i));
    assert.deepEqual(cidrs[0], { network: "10.100.0.0/16", subnet: "10.100.0.0/24" });
    assert.equal(new Set(cidrs.map((c) => c.network)).size, 100);
    assert.ok(cidrs.every((c) => c.subnet.replace("/24", "") === c.network.replace("/16", "")));
    assert.throws(() => regionCidrs(100), /at most 100 regions/);
    assert.throws(() => regionCidrs(-1), { code: "TOO_MANY_REGIONS" });
  });

  it("takes only its own cloud's gateways, and refuses a topology with none there", () => {
    const owner = new pulumi.ComponentResource("skyplane:test:Owner", "owner");
    const topology = awsToGcp();
    assert.deepEqual(
      cloudGateways(topology, "aws", "AWS", owner).map((g) => g.id),
      ["aws-us-east-1-0"],
    );
    assert.throws(
      () => cloudGateways(topology, "azure", "Azure", owner),
      /the Azure dataplane has no gateways to run: the topology's are on aws, gcp/,
    );
  });

  it("binds sends to peers' addresses, saying which peer on another cloud is missing", async () => {
    const [source] = awsToGcp().gateways;
    assert.deepEqual(sendTargets(source.program), ["gcp-us-central1-a-0"]);
    const own = new Map([["aws-us-east-1-0", pulumi.output("198.51.100.200")]]);
    const missing = boundProgram(source, addressBook(own).peers, 8081);
    await assert.rejects(
      (missing as unknown as { promise(): Promise<unknown> }).promise(),
      /aws-us-east-1-0 sends to gcp-us-central1-a-0 on another cloud: pass their addresses as remotePeers/,
    );
    const book = addressBook(own, { "gcp-us-central1-a-0": "198.51.100.201" });
    const peers = book.peers;
    assert.deepEqual(await value(book.own), { "aws-us-east-1-0": "198.51.100.200" });
    assert.deepEqual(await value(peers), {
      "aws-us-east-1-0": "198.51.100.200",
      "gcp-us-central1-a-0": "198.51.100.201",
    });
    const bound = JSON.stringify(await value(boundProgram(source, peers, 8081)));
    assert.match(bound, /"gatewayId":"gcp-us-central1-a-0","host":"198\.51\.100\.201","port":8081/);
    const endpoints = await value(gatewayEndpoints([source], book.own, 8080, 8081));
    assert.deepEqual(endpoints, [
      {
        id: "aws-us-east-1-0",
        region: "aws:us-east-1",
        host: "198.51.100.200",
        controlPort: 8080,
        dataPort: 8081,
      },
    ]);
  });

  it("wires a multi-cloud route: each cloud's firewall admits the other's gateway, and the source sends to it", async function () {
    this.timeout(30_000);
    const { AwsDataplane } = await import("../../components/aws");
    const { GcpDataplane } = await import("../../components/gcp");
    const topology = awsToGcp();
    const common = {
      topology,
      token: pulumi.secret("t"),
      key: pulumi.secret("k"),
      clientCidr: "203.0.113.7/32",
      expireAt: Date.UTC(2026, 10, 27, 14),
      bundle: testBundle(),
      nodeRuntime: NODE_RUNTIME,
    };
    // Each side needs the other's addresses: a deferred output breaks the cycle.
    const [gcpPeers, resolveGcpPeers] = pulumi.deferredOutput<Record<string, string>>();
    const aws = new AwsDataplane("mc-aws", {
      ...common,
      readBuckets: ["src"],
      writeBuckets: [],
      remotePeers: gcpPeers,
    });
    const byId = (eps: pulumi.Output<GatewayEndpoint[]>) =>
      eps.apply((list) => Object.fromEntries(list.map((g) => [g.id, g.host])));
    const gcp = new GcpDataplane("mc-gcp", {
      ...common,
      project: "p",
      readBuckets: [],
      writeBuckets: ["dst"],
      remotePeers: byId(aws.gateways),
    });
    resolveGcpPeers(byId(gcp.gateways));
    const [awsHost] = (await value(aws.gateways)).map((g) => g.host);
    const [gcpHost] = (await value(gcp.gateways)).map((g) => g.host);
    // Every resource of both is registered: the mocks saw exactly these.
    assert.equal(await settled(aws, gcp), all.filter((r) => r.name.startsWith("mc-")).length);
    assert.notEqual(awsHost, gcpHost);
    const named = (prefix: string, type: string) =>
      all.filter((r) => r.name.startsWith(prefix) && r.type === type);
    assert.equal(named("mc-aws", "aws:ec2/instance:Instance").length, 1, "only AWS's gateway");
    assert.equal(named("mc-gcp", "gcp:compute/instance:Instance").length, 1, "only GCP's gateway");
    const [sg] = named("mc-aws", "aws:ec2/securityGroup:SecurityGroup");
    const ingress = sg.inputs.ingress as Array<{ fromPort: number; cidrBlocks: string[] }>;
    const data = ingress.find((r) => r.fromPort === 8081);
    assert.deepEqual(
      [...(data?.cidrBlocks ?? [])].sort(),
      [`${awsHost}/32`, `${gcpHost}/32`].sort(),
    );
    const gcpData = named("mc-gcp", "gcp:compute/firewall:Firewall").find((f) =>
      JSON.stringify(f.inputs.allows).includes("8081"),
    );
    assert.deepEqual(
      [...(gcpData?.inputs.sourceRanges as string[])].sort(),
      [`${awsHost}/32`, `${gcpHost}/32`].sort(),
    );
    const [vm] = named("mc-aws", "aws:ec2/instance:Instance");
    assert.ok((vm.inputs.userData as string).includes(`"host": "${gcpHost}"`));
  });
});
