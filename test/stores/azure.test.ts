import * as crypto from "node:crypto";
import { AzureStore } from "../../stores/azure";
import { AZURITE_ACCOUNT } from "../../scripts/emulators";
import { emulators } from "../helpers/emulators";
import { storeConformance } from "./conformance";

describe("stores/azure against Azurite", function () {
  this.timeout(60_000);
  let env: NodeJS.ProcessEnv;
  before(async () => {
    env = { ...process.env, ...(await emulators()).env };
  });

  storeConformance("azure", {
    unmade: () =>
      new AzureStore(
        `${AZURITE_ACCOUNT}/skyplane-${crypto.randomBytes(4).toString("hex")}`,
        {},
        env,
      ),
    region: "azure:westeurope",
    foreignRegion: "aws:us-east-1",
    missing: () => new AzureStore(`${AZURITE_ACCOUNT}/skyplane-missing`, {}, env),
  });
});
