import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { barFields, formatEta } from "../../cli/render";
import type { ChunkRequest } from "../../planner/program";
import type { ChunkStatusEvent } from "../../runner/gateway-client";
import { Listing } from "../../runner/listing";
import { TransferEvent, TransferProgress } from "../../runner/progress";
import { DEFAULT_TRANSFER_OPTIONS, runTransfer } from "../../runner/transfer";
import { crc32, formatCrc, LocalStore, localBucketRoot } from "../../stores";

const MiB = 1024 * 1024;

/** Resolves with the first event of `type` that `progress` emits from now on. */
function next(progress: TransferProgress, type: TransferEvent["type"]): Promise<TransferEvent> {
  return new Promise((resolve) => {
    const off = progress.on((e) => {
      if (e.type !== type) return;
      off();
      resolve(e);
    });
  });
}

/*
 * Progress as it lands: the runner reads what the destination gateways report they wrote (their
 * control API's `bytesWritten`), so that the bar moves before the sources report chunks done. The
 * gateways here are scripted: the test decides what each one reports, and when.
 */
describe("runner: progress moves with the bytes the destination gateways have written", function () {
  let home: string;
  let dst: LocalStore;
  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-progress-"));
    dst = await LocalStore.createBucket("dst", localBucketRoot({ home }, "dst"), "local:west");
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("reports bytes landed ahead of the acks, counted from the transfer's start and never past its size", async () => {
    const data = new Map(["a", "b", "c"].map((k) => [k, crypto.randomBytes(MiB)]));
    const listing = Listing.of(
      [...data.keys()].map((k) => ({ srcKey: k, dstKey: `out/${k}`, size: MiB })),
    );
    const submitted: ChunkRequest[] = [];
    let sent!: () => void;
    const allSent = new Promise<void>((r) => (sent = r));
    const events: ChunkStatusEvent[] = [];
    const source = {
      submit: async (batch: ChunkRequest[]) => {
        submitted.push(...batch);
        if (submitted.length === data.size) sent();
        return batch.length;
      },
      chunkStatus: async (cursor: number) => ({
        cursor: events.length,
        events: events.slice(cursor),
      }),
    };
    // A warm gateway: it wrote 5 MiB for an earlier job, which is not this transfer's progress.
    let written = 5 * MiB;
    const destination = {
      status: async () => ({
        gatewayId: "west-0",
        ready: true,
        isSource: false,
        stats: { bytesWritten: written },
      }),
    };
    /** What the destination gateway does with a chunk: writes it, and counts it. */
    const land = async (c: ChunkRequest) => {
      await dst.put(c.dstKey, data.get(c.srcKey) as Buffer);
      written += c.length;
    };

    const progress = new TransferProgress();
    const seen: TransferEvent[] = [];
    progress.on((e) => seen.push(e));
    const planned = next(progress, "planned");
    const run = runTransfer(
      {
        src: { parsed: { scheme: "local", bucket: "src", key: "" } },
        dst: { parsed: { scheme: "local", bucket: "dst", key: "out/" } },
        listing,
        chunking: { multipartThresholdBytes: 8 * MiB, partSizeBytes: 4 * MiB },
      },
      { sources: [source], destinations: [destination], stores: { home }, dstRegion: "local:west" },
      { ...DEFAULT_TRANSFER_OPTIONS, pollIntervalMs: 5 },
      progress,
    );
    assert.deepEqual(await planned, { type: "planned", objects: 3, chunks: 3, bytes: 3 * MiB });
    await allSent;

    // One object written at the destination; the source has reported nothing yet.
    const first = next(progress, "landed");
    await land(submitted[0]);
    assert.deepEqual(await first, { type: "landed", bytes: MiB });
    assert.equal(progress.bytesLanded, MiB);
    assert.equal(progress.bytesDone, 0, "no chunk is acked yet");
    assert.equal(progress.chunksDone, 0);

    // A gateway shared with another job counts its bytes too: progress stops at this transfer's size.
    const capped = next(progress, "landed");
    written += 10 * MiB;
    assert.deepEqual(await capped, { type: "landed", bytes: 3 * MiB });

    for (const c of submitted.slice(1)) await land(c);
    for (const c of submitted)
      events.push({
        seq: events.length + 1,
        id: c.id,
        state: "done",
        crc: formatCrc(crc32(data.get(c.srcKey) as Buffer)),
      });
    const result = await run;
    assert.equal(result.bytes, 3 * MiB);
    assert.deepEqual(result.verified, { objects: 3, storeHash: { crc32: 3 }, readBack: 0 });
    assert.equal(progress.bytesDone, 3 * MiB);
    assert.equal(progress.bytesLanded, 3 * MiB);
    const landed = seen.filter((e) => e.type === "landed").map((e) => e.bytes);
    assert.deepEqual(landed, [MiB, 3 * MiB], "landed grows, once per change");
    assert.ok(
      seen.findIndex((e) => e.type === "landed") < seen.findIndex((e) => e.type === "chunk_done"),
      "the bar moved before the first ack",
    );
  });

  it("shows the rate and the time left at it", () => {
    const progress = new TransferProgress();
    progress.emit({ type: "planned", objects: 1, chunks: 2, bytes: 100 * MiB });
    const started = 1_000_000;
    assert.deepEqual(barFields(progress, started, started), {
      done: "0 B",
      size: "100.0 MiB",
      speed: "",
      eta: "--",
    });
    progress.emit({ type: "landed", bytes: 25 * MiB });
    assert.deepEqual(barFields(progress, started, started + 10_000), {
      done: "25.0 MiB",
      size: "100.0 MiB",
      speed: "2.5 MiB/s",
      eta: "30s",
    });
    assert.deepEqual(
      [formatEta(75), formatEta(3725), formatEta(undefined), formatEta(-1)],
      ["1m15s", "1h02m", "--", "--"],
    );
  });
});
