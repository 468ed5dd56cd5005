import * as crypto from "node:crypto";
import { S3Store } from "../../stores/s3";
import { emulators } from "../helpers/emulators";
import { storeConformance } from "./conformance";

describe("stores/s3 against gofakes3", function () {
  this.timeout(60_000);
  let env: NodeJS.ProcessEnv;
  before(async () => {
    env = { ...process.env, ...(await emulators()).env };
  });

  storeConformance("s3", {
    unmade: () => new S3Store(`skyplane-${crypto.randomBytes(4).toString("hex")}`, {}, env),
    region: "aws:us-east-1",
    foreignRegion: "gcp:us-central1",
    missing: () => new S3Store("skyplane-missing-bucket", {}, env),
  });
});
