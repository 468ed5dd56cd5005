import * as assert from "node:assert/strict";
import { locationRegion, parseRegion } from "../../common/regions";
import { gatewayRegionFor, knownRegion, UnknownRegionError } from "../../planner/regions";

describe("common/regions: region ids taken apart", () => {
  it("splits provider, name, region and GCP zone", () => {
    assert.deepEqual(parseRegion("aws:us-east-1"), {
      id: "aws:us-east-1",
      provider: "aws",
      name: "us-east-1",
      region: "us-east-1",
    });
    assert.deepEqual(parseRegion("gcp:us-central1-a"), {
      id: "gcp:us-central1-a",
      provider: "gcp",
      name: "us-central1-a",
      region: "us-central1",
      zone: "us-central1-a",
    });
    assert.equal(parseRegion("gcp:us-central1").zone, undefined, "a GCP region is no zone");
    assert.equal(parseRegion("azure:westeurope").name, "westeurope");
    assert.equal(parseRegion("local:east").provider, "local");
  });

  it("refuses what is not a region id, saying how to write one", () => {
    assert.throws(() => parseRegion("us-east-1"), /write provider:region, e\.g\. local:east/);
    assert.throws(
      () => parseRegion("mars:olympus"),
      /unknown provider "mars".*local, aws, gcp or azure/,
    );
  });
});

describe("planner/regions: a bucket's region from its cloud's location name", () => {
  // What a store reports (common) and where its gateways go (planner), together.
  const bucketRegion = (provider: "aws" | "gcp" | "azure", location: string | null) =>
    gatewayRegionFor(locationRegion(provider, location));

  it("reads S3 location constraints, including us-east-1's empty one and the legacy EU", () => {
    assert.equal(bucketRegion("aws", null), "aws:us-east-1");
    assert.equal(bucketRegion("aws", ""), "aws:us-east-1");
    assert.equal(bucketRegion("aws", "EU"), "aws:eu-west-1");
    assert.equal(bucketRegion("aws", "ap-south-1"), "aws:ap-south-1");
    assert.equal(bucketRegion("aws", "mars-north-1"), undefined);
  });

  it("maps GCS regions to their first zone, and multi-regions to a member region", () => {
    assert.equal(
      locationRegion("gcp", "US-CENTRAL1"),
      "gcp:us-central1",
      "the store reports the region",
    );
    assert.equal(bucketRegion("gcp", "US-CENTRAL1"), "gcp:us-central1-a");
    assert.equal(bucketRegion("gcp", "US"), "gcp:us-central1-a");
    assert.equal(bucketRegion("gcp", "EU"), "gcp:europe-west1-b");
    assert.equal(bucketRegion("gcp", "EUR4"), "gcp:europe-west4-a");
    assert.equal(bucketRegion("gcp", "MOON1"), undefined);
  });

  it("takes Azure locations in either spelling", () => {
    assert.equal(bucketRegion("azure", "westeurope"), "azure:westeurope");
    assert.equal(bucketRegion("azure", "West Europe"), "azure:westeurope");
    assert.equal(bucketRegion("azure", "atlantis"), undefined);
  });

  it("answers undefined, not an error, for what is no region id", () => {
    assert.equal(gatewayRegionFor("nowhere"), undefined);
    assert.equal(gatewayRegionFor("gcp:"), undefined);
  });
});

describe("planner/regions: known regions", () => {
  it("checks ids against the catalogue, naming valid ones", () => {
    assert.equal(knownRegion("gcp:us-central1-a").region, "us-central1");
    assert.throws(
      () => knownRegion("local:mars"),
      /unknown region local:mars: the local cloud has/,
    );
    assert.throws(() => knownRegion("x"), UnknownRegionError);
    assert.throws(() => knownRegion("mars:x"), UnknownRegionError);
  });
});
