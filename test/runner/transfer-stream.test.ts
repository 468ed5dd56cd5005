import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ChunkRequest } from "../../planner/program";
import { DEFAULT_CHUNKING, ObjectPair } from "../../runner/chunker";
import type { ChunkStatusEvent } from "../../runner/gateway-client";
import { Listing, ListingBuilder } from "../../runner/listing";
import { TransferEvent, TransferProgress } from "../../runner/progress";
import { DEFAULT_TRANSFER_OPTIONS, runTransfer, SourceGateway } from "../../runner/transfer";
import { crc32, formatCrc, LocalStore, localBucketRoot, parseStoreUri } from "../../stores";
import { UserError } from "../../errors";

/*
 * Issue 13, item 5: the transfer takes each object as it is listed. With a listing this test makes by
 * hand, the first chunk goes out before the listing ends, across the spill to disk, and an error that
 * ends the listing ends the transfer once what came before it went out.
 */

/** A source gateway that takes every request and reports it done as the destination store would. */
class InstantSource implements SourceGateway {
  readonly submitted: ChunkRequest[] = [];
  private readonly events: ChunkStatusEvent[] = [];

  async submit(batch: ChunkRequest[]): Promise<number> {
    for (const c of batch) {
      this.submitted.push(c);
      const crc = formatCrc(crc32(Buffer.alloc(c.length)));
      const bucket = c.dstBuckets?.["local:west"] as string;
      this.events.push({
        seq: this.events.length + 1,
        id: c.id,
        state: "done",
        crc,
        stored: { [bucket]: { size: c.length, hashes: { crc32: crc } } },
      });
    }
    return batch.length;
  }

  async chunkStatus(cursor: number): Promise<{ cursor: number; events: ChunkStatusEvent[] }> {
    const events = this.events.slice(cursor);
    return { cursor: cursor + events.length, events };
  }
}

describe("runner: a transfer that starts while its listing goes on (issue 13)", function () {
  this.timeout(30_000);
  let home: string;
  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-stream-"));
    await LocalStore.createBucket("dst", localBucketRoot({ home }, "dst"), "local:west");
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  const pair = (i: number): ObjectPair => ({ srcKey: `k/${i}`, dstKey: `k/${i}`, size: 4 + i });
  const job = (listing: Listing) => ({
    src: { parsed: parseStoreUri("local://src/k/") },
    dst: { parsed: parseStoreUri("local://dst/k/") },
    listing,
    chunking: DEFAULT_CHUNKING,
  });

  /** Runs a transfer of `listing`; resolves `first` when its first chunks are dispatched. */
  function start(listing: Listing, source: InstantSource) {
    const progress = new TransferProgress();
    const events: TransferEvent[] = [];
    let dispatched!: () => void;
    const first = new Promise<void>((resolve) => (dispatched = resolve));
    progress.on((e) => {
      events.push(e);
      if (e.type === "dispatched") dispatched();
    });
    const running = runTransfer(
      job(listing),
      { sources: [source], stores: { home }, dstRegion: "local:west" },
      { ...DEFAULT_TRANSFER_OPTIONS, pollIntervalMs: 5, windowObjects: 4 },
      progress,
    );
    running.catch(() => undefined);
    return { running, first, events };
  }

  it("dispatches the first chunk before the listing is exhausted, and copies all of it", async () => {
    const builder = new ListingBuilder({
      spoolDir: path.join(home, "work", "listings"),
      memoryObjects: 5,
      chunksOf: () => 1,
    });
    for (let i = 0; i < 3; i++) builder.add(pair(i));
    const listing = builder.listing();
    const source = new InstantSource();
    const { running, first, events } = start(listing, source);
    await first;
    assert.equal(listing.complete, false, "the listing is still going on");
    assert.deepEqual(
      source.submitted.map((c) => c.srcKey),
      ["k/0", "k/1", "k/2"],
      "what was listed went out at once, without waiting for a full window",
    );
    // The rest, past the memory bound (a spool file) and then finished.
    for (let i = 3; i < 12; i++) builder.add(pair(i));
    assert.ok(listing.spoolFile, "12 objects outgrew a bound of 5");
    builder.finish();
    const result = await running;
    assert.equal(result.objects, 12);
    assert.equal(result.bytes, 12 * 4 + 66);
    assert.deepEqual(result.verified, { objects: 12, storeHash: { crc32: 12 }, readBack: 0 });
    assert.deepEqual(
      source.submitted.map((c) => c.srcKey),
      [...Array(12).keys()].map((i) => `k/${i}`),
      "each object once, in order",
    );
    const planned = events.filter((e) => e.type === "planned");
    assert.deepEqual(
      planned.map((e) => e.type === "planned" && e.objects),
      [3, 12],
      "the totals so far, then the whole listing's",
    );
    await listing[Symbol.asyncDispose]();
  });

  it("ends with the error that ended the listing, after what was listed before it", async () => {
    const builder = new ListingBuilder({
      spoolDir: path.join(home, "work", "listings"),
      chunksOf: () => 1,
    });
    for (let i = 0; i < 2; i++) builder.add(pair(i));
    const source = new InstantSource();
    const { running, first } = start(builder.listing(), source);
    await first;
    builder.fail(new UserError("INVALID_KEY", 'invalid destination key "../x"'));
    await assert.rejects(running, (err: Error) => {
      assert.match(err.message, /invalid destination key/);
      return true;
    });
    assert.deepEqual(
      source.submitted.map((c) => c.srcKey),
      ["k/0", "k/1"],
    );
  });
});
