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
    fresh: async () => {
      const store = new GcsStore(`skyplane-${crypto.randomBytes(4).toString("hex")}`, {}, env);
      await store.create("US-CENTRAL1");
      return store;
    },
    missing: () => new GcsStore("skyplane-missing-bucket", {}, env),
  });
});
