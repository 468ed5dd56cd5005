import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AWSConfig, AzureConfig, GCPConfig, SkyplaneClient } from "../../runner";
import { credentialEnv } from "../../runner/config";
import { LocalStore, localBucketRoot, S3Store, STORE_ENV_VARS } from "../../stores";
import { emulators } from "../helpers/emulators";

/*
 * A client's credentials (AWSConfig, GCPConfig, AzureConfig) are what its stores, its gateways and the
 * providers use, whatever the process's own environment says.
 */
describe("api: a client's credentials", function () {
  this.timeout(180_000);

  it("amount to the variables the stores, gateways and Pulumi providers read", () => {
    assert.deepEqual(credentialEnv({}), {});
    assert.deepEqual(
      credentialEnv({
        aws: new AWSConfig({ profile: "prod", endpoint: "http://127.0.0.1:9000" }),
        gcp: new GCPConfig({ projectId: "p", keyFilename: "/k.json" }),
        azure: new AzureConfig({ subscriptionId: "s" }),
      }),
      {
        AWS_PROFILE: "prod",
        AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000",
        GOOGLE_CLOUD_PROJECT: "p",
        GOOGLE_PROJECT: "p",
        GOOGLE_APPLICATION_CREDENTIALS: "/k.json",
        ARM_SUBSCRIPTION_ID: "s",
      },
    );
  });

  describe("with the process's environment knowing no store", () => {
    const saved: NodeJS.ProcessEnv = {};
    let home: string;
    before(() => {
      for (const k of STORE_ENV_VARS) {
        saved[k] = process.env[k];
        delete process.env[k];
      }
      home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-creds-"));
    });
    after(() => {
      for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
      fs.rmSync(home, { recursive: true, force: true });
    });

    it("copies to S3 through gateways with only the client's AWSConfig to go by", async () => {
      const env = (await emulators()).env;
      const aws = new AWSConfig({
        endpoint: env.AWS_ENDPOINT_URL_S3,
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      });
      const bucket = `creds-${crypto.randomBytes(3).toString("hex")}`;
      const s3 = new S3Store(bucket, {}, { ...env });
      await s3.createBucket("aws:us-east-1");
      const src = await LocalStore.createBucket(
        "creds-src",
        localBucketRoot({ home }, "creds-src"),
        "local:east",
      );
      const data = crypto.randomBytes(300_000);
      await src.put("x.bin", data);
      assert.equal(process.env.AWS_ENDPOINT_URL_S3, undefined);
      const client = new SkyplaneClient({ home, aws });
      const result = await client.copy({
        src: "local://creds-src/x.bin",
        dst: `s3://${bucket}/y.bin`,
      });
      assert.equal(result.bytes, data.length);
      assert.ok(
        (await s3.get("y.bin")).equals(data),
        "the gateway wrote it with the client's keys",
      );
      // Without them, the same copy cannot find the bucket's store.
      await assert.rejects(
        new SkyplaneClient({ home }).copy({
          src: "local://creds-src/x.bin",
          dst: `s3://${bucket}/z.bin`,
        }),
        (e: Error & { code?: string }) =>
          e.code === "NO_CREDENTIALS" && /AWS_PROFILE/.test(e.message),
      );
    });
  });
});
