import * as crypto from "node:crypto";
import { GcsStore } from "../../stores/gcs";
import { emulators } from "../helpers/emulators";
import { storeConformance } from "./conformance";

describe("stores/gcs against fake-gcs-server", function () {
  this.timeout(60_000);
  let env: NodeJS.ProcessEnv;
  before(async () => {
    env = { ...process.env, ...(await emulators()).env };
  });

  storeConformance("gcs", {
    unmade: () => new GcsStore(`skyplane-${crypto.randomBytes(4).toString("hex")}`, {}, env),
    // A zone, as the catalogue names GCP's regions: the bucket is made in its region.
    region: "gcp:us-central1-a",
    foreignRegion: "azure:westeurope",
    missing: () => new GcsStore("skyplane-missing-bucket", {}, env),
  });
});
