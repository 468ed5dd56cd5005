import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as net from "node:net";
import { Readable } from "node:stream";
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

  it("streams a read into the caller's buffer piece by piece, and refuses a body cut short", async () => {
    const store = new S3Store(`skyplane-${crypto.randomBytes(4).toString("hex")}`, {}, env);
    await store.createBucket("aws:us-east-1");
    const data = crypto.randomBytes(3 << 20);
    await store.put("o", data);
    const into = Buffer.alloc(4 << 20);
    const seen: Buffer[] = [];
    const got = await store.get("o", { offset: 1000, length: 2 << 20 }, into, (p) => seen.push(p));
    assert.equal(got.buffer, into.buffer, "read into the caller's buffer");
    assert.ok(got.equals(data.subarray(1000, 1000 + (2 << 20))));
    assert.ok(seen.length > 1, `handed over in pieces as they came (${seen.length})`);
    assert.ok(Buffer.concat(seen).equals(got), "every byte once, in order");
    // A body cut short by the server fails the read (Node's HTTP client says "aborted").
    const cut = net.createServer((c) =>
      c.once("data", () =>
        c.end('HTTP/1.1 200 OK\r\nContent-Length: 64\r\nETag: "x"\r\n\r\n' + "y".repeat(20)),
      ),
    );
    await new Promise<void>((r) => cut.listen(0, "127.0.0.1", r));
    try {
      const { port } = cut.address() as net.AddressInfo;
      const keys = { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" };
      const short = new S3Store("cut", { endpoint: `http://127.0.0.1:${port}` }, keys);
      await assert.rejects(short.get("o"), /aborted/);
    } finally {
      cut.close();
    }
    // A body that does not match its Content-Length either way is refused, never returned.
    const client = (store as unknown as { client: S3Client }).client;
    for (const [bytes, says] of [
      [
        20,
        /s3:\/\/\S+\/o: the answer's body ended after 20 of the 64 bytes its Content-Length said/,
      ],
      [80, /the answer's body ran past the 64 bytes/],
    ] as const) {
      client.send = (async () => ({
        ContentLength: 64,
        Body: Readable.from([Buffer.alloc(bytes >> 1), Buffer.alloc(bytes - (bytes >> 1))]),
      })) as unknown as typeof client.send;
      await assert.rejects(store.get("o"), says);
    }
  });

  it("encodes a key as S3 signs it: every byte but unreserved ones and the slashes", () => {
    assert.equal(keyPath("a b/c!*'()~_-./ü+&="), "a%20b/c%21%2A%27%28%29~_-./%C3%BC%2B%26%3D");
  });
});
