import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import "../helpers/mocks";
import { regionCidrs, requireProvider } from "../../components/cloud";
import { planDirect } from "../../planner/direct";
import { buildModel } from "../../planner/model";

describe("components/cloud: what the cloud dataplanes share", () => {
  it("gives each region of a dataplane its own private /16 with a /24 inside, up to 100 regions", () => {
    const all = Array.from({ length: 100 }, (_, i) => regionCidrs(i));
    assert.deepEqual(all[0], { network: "10.100.0.0/16", subnet: "10.100.0.0/24" });
    assert.equal(new Set(all.map((c) => c.network)).size, 100);
    assert.ok(all.every((c) => c.subnet.replace("/24", "") === c.network.replace("/16", "")));
    assert.throws(() => regionCidrs(100), /at most 100 regions/);
    assert.throws(() => regionCidrs(-1), RangeError);
  });

  it("refuses a topology with gateways on another cloud, naming them", () => {
    const topology = planDirect(
      { src: "aws:us-east-1", dsts: ["gcp:us-central1-a"] },
      buildModel(),
    );
    const owner = new pulumi.ComponentResource("skyplane:test:Owner", "owner");
    assert.throws(
      () => requireProvider(topology, "aws", "AWS", owner),
      /the AWS dataplane cannot run gcp-us-central1-a-0/,
    );
    const sameCloud = planDirect({ src: "aws:us-east-1", dsts: ["aws:us-west-2"] }, buildModel());
    assert.doesNotThrow(() => requireProvider(sameCloud, "aws", "AWS", owner));
  });
});
