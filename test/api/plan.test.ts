import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bucketUri, LocalStore, localBucketRoot, parseStoreUri } from "../../stores";
import { callsOf, CountingClient, listings } from "../helpers/counting-store";

/*
 * A copy is planned once and run as planned: through provisioning and the transfer, nothing lists the
 * source or resolves a region again. The client's stores count their calls.
 */
describe("api: a copy lists its source once", function () {
  this.timeout(180_000);
  let home: string;
  let folder: string;
  let west: LocalStore;
  const files: Record<string, Buffer> = {
    "a.txt": Buffer.from("a"),
    "sub/b.bin": crypto.randomBytes(300_000),
    "sub/deeper/c.bin": crypto.randomBytes(3 << 20), // in parts of 1 MiB
  };

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-once-"));
    folder = path.join(home, "folder");
    for (const [k, v] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(folder, k)), { recursive: true });
      fs.writeFileSync(path.join(folder, k), v);
    }
    west = await LocalStore.createBucket(
      "once-west",
      localBucketRoot({ home }, "once-west"),
      "local:west",
    );
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  const client = () =>
    new CountingClient({
      home,
      transferConfig: { multipartThresholdBytes: 2 << 20, partSizeBytes: 1 << 20 },
    });

  it("cp of a local folder: one listing of the folder, each region resolved once", async () => {
    const c = client();
    const result = await c.copy({ src: folder, dst: "local://once-west/copy/", recursive: true });
    const src = bucketUri(parseStoreUri(folder));
    const dst = "local://once-west";
    assert.ok(c.calls.length > 0, "the stores were used through the counting opener");
    assert.equal(listings(c.calls, src), 1, "the folder is listed once");
    assert.equal(callsOf(c.calls, src, "iterate"), 1, "in one walk");
    assert.equal(callsOf(c.calls, src, "list"), 0, "not page by page");
    assert.equal(callsOf(c.calls, src, "exists"), 1, "the folder's existence is checked once");
    assert.equal(callsOf(c.calls, src, "region"), 0, "a folder is in the client's region");
    assert.equal(callsOf(c.calls, src, "skippedLinks"), 1);
    assert.equal(callsOf(c.calls, dst, "exists"), 1, "the destination bucket is checked once");
    assert.equal(callsOf(c.calls, dst, "region"), 1, "the destination region resolves once");
    assert.equal(listings(c.calls, dst), 0, "a copy never lists its destination");

    assert.equal(result.objects, 3);
    assert.equal(
      result.bytes,
      Object.values(files).reduce((n, v) => n + v.length, 0),
    );
    for (const [k, v] of Object.entries(files))
      assert.ok((await west.get(`copy/${k}`)).equals(v), k);
    // What --json prints: the stack, the plan's estimate, what was verified and how, the cost.
    assert.equal(result.stack, "local-client--local-west");
    assert.deepEqual(
      [result.estimate.objects, result.estimate.bytes, result.estimate.chunks],
      [3, result.bytes, 1 + 1 + 3],
    );
    assert.deepEqual(result.verified, { objects: 3, storeHash: { crc32: 3 }, readBack: 0 });
    assert.equal(typeof result.costUSD, "number");
  });

  it("sync: one listing of each side, and the diff comes from it", async () => {
    fs.writeFileSync(path.join(folder, "a.txt"), "changed");
    const c = client();
    const result = await c.sync({ src: folder, dst: "local://once-west/copy/" });
    const src = bucketUri(parseStoreUri(folder));
    assert.equal(listings(c.calls, src), 1, "the folder is listed once");
    assert.equal(listings(c.calls, "local://once-west"), 1, "the destination is listed once");
    assert.equal(callsOf(c.calls, "local://once-west", "region"), 1);
    assert.equal(result.objects, 1, "only the changed file is copied");
    assert.equal((await west.get("copy/a.txt")).toString(), "changed");
  });
});
