import * as assert from "node:assert/strict";
import { bucketRegion } from "../../planner/regions";

describe("planner/regions: a bucket's region from its cloud's location name", () => {
  it("reads S3 location constraints, including us-east-1's empty one and the legacy EU", () => {
    assert.equal(bucketRegion("aws", null), "aws:us-east-1");
    assert.equal(bucketRegion("aws", ""), "aws:us-east-1");
    assert.equal(bucketRegion("aws", "EU"), "aws:eu-west-1");
    assert.equal(bucketRegion("aws", "ap-south-1"), "aws:ap-south-1");
    assert.equal(bucketRegion("aws", "mars-north-1"), undefined);
  });

  it("maps GCS regions to their first zone, and multi-regions to a member region", () => {
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
});
