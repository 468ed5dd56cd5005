import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ChunkRequest } from "../../planner/program";
import type { ChunkStatusEvent, StoredObject } from "../../runner/gateway-client";
import { Listing } from "../../runner/listing";
import { DEFAULT_TRANSFER_OPTIONS, runTransfer, TransferFailedError } from "../../runner/transfer";
import { crc32, formatCrc, LocalStore, localBucketRoot, ObjectStore } from "../../stores";
import { counting, StoreCall } from "../helpers/counting-store";

/*
 * Verification of what the destination store reported when it wrote each object: a source gateway's
 * done event carries it (the destination gateway had it from the store's write, and sent it back in
 * its ack), so the runner checks every small object without asking the store about it again. The
 * gateway here is scripted: it writes into a local bucket and reports what the test decides.
 */
describe("runner: verification from what the store reported when it wrote each object", function () {
  let home: string;
  let dst: LocalStore;
  const calls: StoreCall[] = [];
  let counted: ObjectStore;
  const dstBucket = "local://dst";
  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-verify-stored-"));
    dst = await LocalStore.createBucket("dst", localBucketRoot({ home }, "dst"), "local:west");
    counted = counting(dst, { scheme: "local", bucket: "dst", key: "" }, calls);
  });
  beforeEach(() => (calls.length = 0));
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  /**
   * Runs a transfer of `keys` (each object's bytes are its key) through a scripted source gateway
   * that writes each object to the destination bucket and reports `report(key, written)` as stored.
   */
  function transfer(
    keys: string[],
    report: (key: string, written: StoredObject) => StoredObject | undefined,
  ) {
    const events: ChunkStatusEvent[] = [];
    const source = {
      submit: async (batch: ChunkRequest[]) => {
        for (const c of batch) {
          const bytes = Buffer.from(c.srcKey);
          const info = await dst.put(c.dstKey, bytes);
          const stored = report(c.srcKey, { size: info.size, hashes: info.hashes ?? {} });
          events.push({
            seq: events.length + 1,
            id: c.id,
            state: "done",
            crc: formatCrc(crc32(bytes)),
            ...(stored ? { stored: { [dstBucket]: stored } } : {}),
          });
        }
        return batch.length;
      },
      chunkStatus: async (cursor: number) => ({
        cursor: events.length,
        events: events.slice(cursor),
      }),
    };
    return runTransfer(
      {
        src: { parsed: { scheme: "local", bucket: "src", key: "" } },
        dst: { parsed: { scheme: "local", bucket: "dst", key: "out/" } },
        listing: Listing.of(keys.map((k) => ({ srcKey: k, dstKey: `out/${k}`, size: k.length }))),
        chunking: { multipartThresholdBytes: 1 << 20, partSizeBytes: 1 << 20 },
      },
      { sources: [source], stores: { home }, dstRegion: "local:west", open: () => counted },
      { ...DEFAULT_TRANSFER_OPTIONS, pollIntervalMs: 5 },
    );
  }

  it("checks each object against the store's own report, with no HEAD of any", async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `object-${i}`);
    const result = await transfer(keys, (_, written) => written);
    assert.deepEqual(result.verified, { objects: 300, storeHash: { crc32: 300 }, readBack: 0 });
    assert.equal(calls.filter((c) => c.method === "head").length, 0, "no HEAD");
    assert.equal(calls.filter((c) => c.method === "get").length, 0, "no read-back");
  });

  it("fails an object whose store reported other bytes than were read, and removes it", async () => {
    const err = await transfer(["good", "bad"], (key, written) =>
      key === "bad" ? { ...written, hashes: { crc32: "00000000" } } : written,
    ).then(
      () => assert.fail("the transfer succeeded"),
      (e: Error) => e,
    );
    assert.ok(err instanceof TransferFailedError);
    assert.match(
      err.message,
      new RegExp(
        `verification failed for out/bad: the store reports crc32 00000000, expected ${formatCrc(crc32(Buffer.from("bad")))}`,
      ),
    );
    assert.equal(await dst.head("out/bad"), undefined, "the object is removed");
    assert.equal((await dst.get("out/good")).toString(), "good");
  });

  it("asks the store (HEAD) for an object whose report holds no hash it can compare", async () => {
    const result = await transfer(["a", "b", "c"], (key, written) =>
      key === "b" ? undefined : key === "c" ? { size: written.size, hashes: {} } : written,
    );
    assert.deepEqual(result.verified, { objects: 3, storeHash: { crc32: 3 }, readBack: 0 });
    assert.deepEqual(
      calls.filter((c) => c.method === "head").map((c) => c.args[0]),
      ["out/b", "out/c"],
    );
  });
});
