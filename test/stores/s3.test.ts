import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { S3Store } from "../../stores/s3";
import { keyPath } from "../../stores/s3/direct";
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

  it("PUTs a small object directly, without an SDK command, and a large one through the SDK", async () => {
    const store = new S3Store(`skyplane-${crypto.randomBytes(4).toString("hex")}`, {}, env);
    await store.createBucket("aws:us-east-1");
    const client = (store as unknown as { client: S3Client }).client;
    const commands: string[] = [];
    const send = client.send.bind(client);
    client.send = ((command: { constructor: { name: string } }, ...rest: unknown[]) => {
      commands.push(command.constructor.name);
      return (send as (...a: unknown[]) => unknown)(command, ...rest);
    }) as typeof client.send;
    const small = crypto.randomBytes(4096);
    const key = "odd keys/ünï (1)!*'.txt";
    const put = await store.put(key, small);
    assert.deepEqual(commands, [], "no SDK command for a small PUT");
    assert.equal(put.hashes?.md5, crypto.createHash("md5").update(small).digest("hex"));
    assert.ok((await store.get(key)).equals(small));
    const big = crypto.randomBytes(2 << 20);
    await store.put("big", big);
    assert.deepEqual(
      commands,
      ["GetObjectCommand", "PutObjectCommand"],
      "the read, then the large PUT",
    );
    assert.ok((await store.get("big")).equals(big));
  });

  it("encodes a key as S3 signs it: every byte but unreserved ones and the slashes", () => {
    assert.equal(keyPath("a b/c!*'()~_-./ü+&="), "a%20b/c%21%2A%27%28%29~_-./%C3%BC%2B%26%3D");
  });
});
