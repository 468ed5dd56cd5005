import pLimit from "p-limit";
import type { ChunkRequest } from "../planner/program";
import {
  bucketUri,
  expectedHashes,
  Hashes,
  hashMismatches,
  ObjectStore,
  openStore,
  readBackRanges,
  sharedHash,
  StoreContext,
  StoreUri,
} from "../stores/core";
import { SkyplaneError } from "../errors";
import { ChunkingOptions, planChunks, PlannedObject } from "./chunker";
import type { ChunkStatusEvent, GatewayClient, StoredObject } from "./gateway-client";
import type { Listing } from "./listing";
import { asUserError } from "./plan";
import { TransferProgress } from "./progress";

/** What the runner asks of a source gateway: take chunk requests, report their outcomes. */
export type SourceGateway = Pick<GatewayClient, "submit" | "chunkStatus">;

/**
 * What the runner asks of a destination gateway: its counters (bytes written), and to read back an
 * object whose store reports no hash the runner can predict (without it the runner reads it itself).
 */
export type DestinationGateway = Pick<GatewayClient, "status"> &
  Partial<Pick<GatewayClient, "readBack">>;

/** Where a transfer runs: the dataplane's source gateways and its destination region. */
export interface TransferTarget {
  /** Control API clients of the gateways that read from the source. */
  readonly sources: readonly SourceGateway[];
  /**
   * Control API clients of the gateways that write to the destination: their byte counters show
   * progress as it lands, before the acks travel back. Optional: without them progress moves per chunk.
   */
  readonly destinations?: readonly DestinationGateway[];
  /** Where stores find local buckets. */
  readonly stores: StoreContext;
  /** The destination region, whose gateways write to the destination bucket. */
  readonly dstRegion: string;
  /** Opens a store; default the scheme registry's. */
  readonly open?: (uri: StoreUri, ctx: StoreContext) => ObjectStore;
}

/** What a transfer moves, as planned (a TransferPlan is one): its two ends and its listing. */
export interface TransferJob {
  /** The source. */
  readonly src: { readonly parsed: StoreUri };
  /** The destination. */
  readonly dst: { readonly parsed: StoreUri };
  /** The objects, listed once. */
  readonly listing: Listing;
  /** How the objects are cut into chunks. */
  readonly chunking: ChunkingOptions;
}

/** Tuning of a transfer. */
export interface TransferOptions {
  /** Check size and checksum of every object at the end. Default true. */
  readonly verify: boolean;
  /** Chunk requests per control API call. Default 1000. */
  readonly batchSize: number;
  /** How often gateways are asked for progress, in ms. Default 100. */
  readonly pollIntervalMs: number;
  /**
   * Objects chunked and dispatched at a time: a listing runs window by window, the next one dispatched
   * while earlier ones complete and verify, with at most two windows' objects out, so that memory holds
   * two windows' chunks whatever the listing's size. Default 10,000.
   */
  readonly windowObjects: number;
  /** Aborting it stops dispatching; the transfer then aborts its uploads and throws InterruptedError. */
  readonly signal?: AbortSignal;
}

/** Defaults of a transfer. */
export const DEFAULT_TRANSFER_OPTIONS: TransferOptions = {
  verify: true,
  batchSize: 1000,
  pollIntervalMs: 100,
  windowObjects: 10_000,
};

/** What was verified after a transfer, and how. */
export interface VerificationReport {
  /** Objects checked: each one's size, and its content as below. */
  readonly objects: number;
  /**
   * Objects whose content was checked by the hash the destination store computed itself (by
   * algorithm), against the same hash of the bytes the source gateways read.
   */
  readonly storeHash: Readonly<Record<string, number>>;
  /** Objects read back from the destination and compared part by part (CRC-32): the store shares no hash. */
  readonly readBack: number;
}

/** What a finished transfer measured. */
export interface TransferResult {
  /** Objects copied. */
  readonly objects: number;
  /** Bytes copied. */
  readonly bytes: number;
  /** Wall-clock seconds from the first dispatch to the last verification. */
  readonly seconds: number;
  /** What was verified and how; absent when verification is off (or nothing was copied). */
  readonly verified?: VerificationReport;
}

/** A transfer that did not complete; nothing partial was left at the destination. */
export class TransferFailedError extends SkyplaneError<"TRANSFER_FAILED"> {
  constructor(
    message: string,
    /** One line per failed chunk or object. */
    readonly failures: string[],
  ) {
    super("TRANSFER_FAILED", message);
  }
}

/** A transfer stopped on request (Ctrl-C): its multipart uploads were aborted, no partial object left. */
export class InterruptedError extends SkyplaneError<"INTERRUPTED"> {
  constructor() {
    super(
      "INTERRUPTED",
      "interrupted: the transfer was stopped and its unfinished uploads aborted (objects completed before stay)",
    );
  }
}

/**
 * Copies a planned job through the given source gateways, one window of its listing at a time:
 * chunks, starts multipart uploads, dispatches with back-pressure, tracks progress, completes uploads
 * and verifies every object. On failure it aborts the uploads it started, so no partial object
 * appears, and throws an error naming what failed. It neither lists nor resolves anything: the plan did.
 */
export async function runTransfer(
  job: TransferJob,
  target: TransferTarget,
  opts: TransferOptions = DEFAULT_TRANSFER_OPTIONS,
  progress: TransferProgress = new TransferProgress(),
): Promise<TransferResult> {
  const { sources, stores } = target;
  const started = Date.now();
  const uploads: Array<{ key: string; uploadId: string }> = [];
  let dst: ObjectStore | undefined;
  let outcomes: Outcomes | undefined;
  try {
    if (sources.length === 0)
      throw new SkyplaneError("NO_GATEWAYS", "the dataplane has no source gateway");
    const srcUri = job.src.parsed;
    const dstUri = job.dst.parsed;
    dst = (target.open ?? openStore)(dstUri, stores);
    // What writers killed mid-write left here (a crashed run) goes before this run adds its own.
    await dst.cleanupTemporaries?.();
    const dstBucket = bucketUri(dstUri);
    const buckets = { srcBucket: bucketUri(srcUri), dstBuckets: { [target.dstRegion]: dstBucket } };
    // One algorithm is enough to predict the store's hash: CRC-32C where the store computes it (it
    // survives S3's SSE-KMS, whose ETag is no MD5), else its first; the gateways' CRC-32 is always there.
    const predictable = dst.features.hashes.includes("crc32c")
      ? (["crc32c"] as const)
      : dst.features.hashes.slice(0, 1);
    const hashes = predictable.filter((h) => h !== "crc32");
    const { listing } = job;
    progress.emit({
      type: "planned",
      objects: listing.objects,
      chunks: listing.chunks,
      bytes: listing.bytes,
    });
    const landing = await Landing.start(target.destinations ?? [], () => listing.bytes, progress);
    const readBack = readBackVia(target.destinations ?? [], dstBucket, dst);
    const verified = { objects: 0, storeHash: {} as Record<string, number>, readBack: 0 };
    outcomes = new Outcomes(sources, dstBucket, opts, progress, landing);
    // Windows overlap: the next is chunked and dispatched while earlier ones finish, complete their
    // uploads and verify, with at most two windows' objects between dispatch and verification.
    const budget = new ObjectBudget(2 * opts.windowObjects);
    const windows = new Set<Promise<void>>(); // those still finishing
    let failure: unknown;
    const failed = () => {
      if (failure !== undefined) throw failure;
      outcomes?.throwIfFailed();
    };
    let planned = listing.complete;
    for await (const window of listing.batches(opts.windowObjects)) {
      if (opts.signal?.aborted) throw new InterruptedError();
      await budget.acquire(window.length, failed);
      failed();
      const plan = planChunks(window, job.chunking, undefined, dst.features);
      const uploadIdOf = new Map<string, string>();
      for (const o of plan.objects.filter((p) => p.multipart)) {
        const uploadId = await dst.createMultipartUpload(o.dstKey, {
          partSize: o.partSize,
          mode: o.mode,
        });
        uploads.push({ key: o.dstKey, uploadId });
        uploadIdOf.set(o.dstKey, uploadId);
      }
      // The source gateway hashes what it reads in the destination store's algorithms, so that the
      // store's own hashes of each object can be checked against the bytes read (not against metadata).
      const chunks: ChunkRequest[] = plan.chunks.map((c) => {
        const part = c.part && {
          number: c.part.number,
          uploadIds: { [dstBucket]: uploadIdOf.get(c.dstKey) as string },
        };
        return {
          ...c,
          ...buckets,
          ...(part ? { part } : {}),
          ...(hashes.length ? { hashes } : {}),
        };
      });
      const outcome = outcomes.expect(chunks);
      const finished = outcome
        .then(async ({ read, stored }) => {
          const completed = await finalize(
            plan.objects,
            read,
            stored,
            dst as ObjectStore,
            uploads,
            progress,
          );
          if (opts.verify)
            await verify(
              plan.objects,
              read,
              completed,
              stored,
              dst as ObjectStore,
              verified,
              readBack,
            );
        })
        .catch((err: unknown) => {
          failure ??= err;
          outcomes?.fail(err); // the windows still out end with it
        })
        .finally(() => budget.release(window.length));
      windows.add(finished);
      void finished.then(() => windows.delete(finished));
      await dispatch(chunks, sources, opts, progress, outcomes);
      failed();
      if (!planned && listing.complete) {
        planned = true;
        progress.emit({
          type: "planned",
          objects: listing.objects,
          chunks: listing.chunks,
          bytes: listing.bytes,
        });
      }
    }
    await Promise.all(windows);
    failed();
    if (opts.signal?.aborted) throw new InterruptedError();
    if (!planned)
      progress.emit({
        type: "planned",
        objects: listing.objects,
        chunks: listing.chunks,
        bytes: listing.bytes,
      });
    if (opts.verify) progress.emit({ type: "verified", objects: verified.objects });
    await dst.cleanupTemporaries?.(); // tidies a folder's empty work folder
    const seconds = (Date.now() - started) / 1000;
    const { objects, bytes } = listing;
    progress.emit({ type: "done", objects, bytes, seconds });
    return { objects, bytes, seconds, ...(opts.verify ? { verified } : {}) };
  } catch (err) {
    outcomes?.stop();
    for (const u of uploads)
      await dst?.abortMultipartUpload(u.key, u.uploadId).catch(() => undefined);
    // Work files of gateways that died with the transfer; a live gateway's stay until deprovision.
    await dst?.cleanupTemporaries?.().catch(() => undefined);
    const error = asUserError(err) as Error;
    progress.emit({ type: "failed", error });
    throw error;
  }
}

/**
 * Bytes landed at the destination: what the destination gateways report they wrote since the transfer
 * began (their `bytesWritten` counters, read each poll), so that progress moves as each chunk or part
 * is written rather than when its ack has travelled back to the source and been polled there. Never
 * more than the transfer's bytes (gateways shared with another job count its bytes too), never less
 * than what the sources confirmed. A gateway that does not answer is skipped: progress is no verdict.
 */
class Landing {
  private constructor(
    private readonly gateways: readonly DestinationGateway[],
    private readonly baseline: Array<number | undefined>,
    private readonly total: () => number,
    private readonly progress: TransferProgress,
  ) {}

  /** Reads each destination's counter before anything is sent. */
  static async start(
    gateways: readonly DestinationGateway[],
    total: () => number,
    progress: TransferProgress,
  ): Promise<Landing> {
    return new Landing(gateways, await Landing.counters(gateways), total, progress);
  }

  private static counters(gateways: readonly DestinationGateway[]) {
    return Promise.all(
      gateways.map((g) =>
        g.status().then(
          (s) => s.stats.bytesWritten,
          () => undefined,
        ),
      ),
    );
  }

  /** Polls the destinations and reports what landed since the start, when it grew. */
  async poll(): Promise<void> {
    if (this.gateways.length === 0) return;
    const now = await Landing.counters(this.gateways);
    let written = 0;
    now.forEach((n, i) => {
      const base = this.baseline[i];
      if (n !== undefined && base !== undefined) written += Math.max(0, n - base);
    });
    const bytes = Math.min(this.total(), Math.max(written, this.progress.bytesDone));
    if (bytes > this.progress.bytesLanded) this.progress.emit({ type: "landed", bytes });
  }
}

/** Objects between dispatch and verification, at most: a window waits until earlier ones make room. */
class ObjectBudget {
  private used = 0;
  private wake?: () => void;
  constructor(private readonly capacity: number) {}

  /** Waits until `n` objects fit (any number when nothing is in use); `check` throws to stop waiting. */
  async acquire(n: number, check: () => void): Promise<void> {
    while (this.used > 0 && this.used + n > this.capacity) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      check();
    }
    this.used += n;
  }

  release(n: number): void {
    this.used -= n;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** Sleeps one poll interval, or less when the transfer is interrupted. */
function pollSleep(opts: TransferOptions): Promise<void> {
  const { signal } = opts;
  return new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", wake);
      resolve();
    };
    const timer = setTimeout(wake, opts.pollIntervalMs);
    signal?.addEventListener("abort", wake, { once: true });
  });
}

/**
 * Sends chunk requests to the sources, round robin, resending what a full gateway refused, until
 * every one is taken (or the transfer stops).
 */
async function dispatch(
  chunks: ChunkRequest[],
  sources: readonly SourceGateway[],
  opts: TransferOptions,
  progress: TransferProgress,
  outcomes: Outcomes,
): Promise<void> {
  let next = 0;
  let turn = 0;
  let refusedInARow = 0;
  let share = 0;
  while (next < chunks.length && !outcomes.stopped && !opts.signal?.aborted) {
    // Spread evenly: each round of the sources, every source is offered the same share of what was
    // left when the round began (at most a batch).
    if (turn % sources.length === 0)
      share = Math.min(opts.batchSize, Math.ceil((chunks.length - next) / sources.length));
    const client = sources[turn++ % sources.length];
    const batch = chunks.slice(next, next + share);
    let accepted: number;
    try {
      accepted = await client.submit(batch);
    } catch (err) {
      outcomes.fail(err);
      throw err;
    }
    next += accepted;
    if (accepted > 0) {
      refusedInARow = 0;
      const sent = batch.slice(0, accepted);
      progress.emit({
        type: "dispatched",
        chunks: accepted,
        bytes: sent.reduce((n, c) => n + c.length, 0),
      });
    } else if (++refusedInARow >= sources.length) {
      refusedInARow = 0;
      await pollSleep(opts); // every gateway is full: back off until they drain
    }
  }
}

/** What the chunks of one window came to: hashes as read (by chunk id), what the store holds (by key). */
interface WindowOutcome {
  readonly read: Map<string, Hashes>;
  readonly stored: Map<string, StoredObject>;
}

/** A window's chunks still out, and how to settle it. */
interface Pending {
  remaining: number;
  readonly outcome: WindowOutcome;
  readonly resolve: (o: WindowOutcome) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The outcomes of every chunk of a transfer, read from the sources' chunk status (one cursor per
 * source for the whole transfer) while any chunk is out; each poll also reads what landed at the
 * destinations. A window's promise resolves once each of its chunks is done; a failed chunk (or a
 * gateway that cannot be asked) fails every window still out.
 */
class Outcomes {
  private readonly cursors: number[];
  /** The chunks out: request and window, by chunk id. */
  private readonly out = new Map<string, { chunk: ChunkRequest; pending: Pending }>();
  /** The windows not settled yet (a failed chunk leaves `out` but keeps its window here). */
  private readonly windows = new Set<Pending>();
  private readonly failures: string[] = [];
  private error?: unknown;
  private wake?: () => void;
  /** True once the transfer stops: it failed, was interrupted, or ended. */
  stopped = false;

  constructor(
    private readonly sources: readonly SourceGateway[],
    private readonly dstBucket: string,
    private readonly opts: TransferOptions,
    private readonly progress: TransferProgress,
    private readonly landing: Landing,
  ) {
    this.cursors = sources.map(() => 0);
    this.loop().catch((err: unknown) => this.fail(err));
  }

  /** Waits for the outcomes of `chunks` (to be dispatched next). */
  expect(chunks: ChunkRequest[]): Promise<WindowOutcome> {
    if (this.error !== undefined) return Promise.reject(this.error);
    return new Promise<WindowOutcome>((resolve, reject) => {
      const pending: Pending = {
        remaining: chunks.length,
        outcome: { read: new Map(), stored: new Map() },
        resolve,
        reject,
      };
      if (chunks.length === 0) resolve(pending.outcome);
      else this.windows.add(pending);
      for (const chunk of chunks) this.out.set(chunk.id, { chunk, pending });
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    });
  }

  /** Throws the error that stopped the transfer, if any. */
  throwIfFailed(): void {
    if (this.error !== undefined) throw this.error;
  }

  /** Fails every window still out with `err` (the first error wins), and stops polling. */
  fail(err: unknown): void {
    this.error ??= err;
    this.stop();
    for (const pending of this.windows) pending.reject(this.error);
    this.windows.clear();
    this.out.clear();
  }

  /** Stops polling. */
  stop(): void {
    this.stopped = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async loop(): Promise<void> {
    const { signal } = this.opts;
    while (!this.stopped) {
      if (this.out.size === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      await pollSleep(this.opts);
      if (signal?.aborted) {
        this.fail(new InterruptedError());
        return;
      }
      if (this.stopped) return;
      const landed = this.landing.poll();
      for (const [i, client] of this.sources.entries()) {
        const { cursor, events } = await client.chunkStatus(this.cursors[i]);
        this.cursors[i] = cursor;
        for (const e of events) this.settle(e);
      }
      await landed;
      if (this.failures.length > 0) {
        const n = this.failures.length;
        const more = n > 5 ? ` (and ${n - 5} more)` : "";
        this.fail(
          new TransferFailedError(
            `the transfer failed: ${this.failures.slice(0, 5).join("; ")}${more}`,
            this.failures,
          ),
        );
        return;
      }
    }
  }

  /** Records one chunk's outcome against its window. */
  private settle(e: ChunkStatusEvent): void {
    const entry = this.out.get(e.id);
    if (!entry) return; // another job's chunk on shared gateways, or one seen before
    this.out.delete(e.id);
    const { chunk: c, pending } = entry;
    if (e.state === "done" && e.crc) {
      pending.outcome.read.set(e.id, { ...e.hashes, crc32: e.crc });
      const held = e.stored?.[this.dstBucket];
      if (held && !c.part) pending.outcome.stored.set(c.dstKey, held);
      this.progress.emit({ type: "chunk_done", chunkId: e.id, bytes: c.length });
      if (--pending.remaining === 0) {
        this.windows.delete(pending);
        pending.resolve(pending.outcome);
      }
    } else {
      this.failures.push(
        `${c.srcKey}${c.part ? ` part ${c.part.number}` : ""}: ${e.error ?? "failed"}`,
      );
      this.progress.emit({ type: "chunk_failed", chunkId: e.id, error: e.error ?? "failed" });
    }
  }
}

/**
 * Completes multipart uploads (adding what the store reports of each completed object to `stored`);
 * returns the hashes the destination store should report of each object.
 */
async function finalize(
  objects: PlannedObject[],
  read: Map<string, Hashes>,
  stored: Map<string, StoredObject>,
  dst: ObjectStore,
  uploads: Array<{ key: string; uploadId: string }>,
  progress: TransferProgress,
): Promise<Map<string, Hashes>> {
  const expected = new Map<string, Hashes>();
  for (const o of objects) {
    const parts = o.chunkIds.map((id, i) => ({
      size: Math.min(o.partSize, o.size - i * o.partSize),
      hashes: read.get(id) as Hashes,
    }));
    if (o.multipart) {
      const upload = uploads.find((u) => u.key === o.dstKey) as { key: string; uploadId: string };
      const info = await dst.completeMultipartUpload(
        o.dstKey,
        upload.uploadId,
        parts.map((p, i) => ({ partNumber: i + 1, hashes: { crc32: p.hashes.crc32 } })),
      );
      uploads.splice(uploads.indexOf(upload), 1); // windows finish concurrently: find it again
      if (info.hashes) stored.set(o.dstKey, { size: info.size, hashes: info.hashes });
    }
    const algs = [...new Set([...dst.features.hashes, "crc32" as const])];
    expected.set(
      o.dstKey,
      await expectedHashes(algs, dst.features.multipartHash, parts, o.multipart),
    );
    progress.emit({ type: "object_done", key: o.dstKey, bytes: o.size });
  }
  return expected;
}

/**
 * Checks every destination object against what the source gateways read: its size, and the store's
 * own hash on an algorithm it shares with the gateways' (never a value skyplane wrote as metadata);
 * where it reports none that they share (an Azure block list, gofakes3's multipart MD5), its bytes are
 * read back and each part's CRC-32 compared. What the store reported when it wrote or completed the
 * object (`stored`) serves where it holds such a hash; the store is asked (HEAD) only where it does
 * not. An object that fails is deleted, so none is left behind. Adds how each object was checked to
 * `report`.
 */
async function verify(
  objects: PlannedObject[],
  read: Map<string, Hashes>,
  expected: Map<string, Hashes>,
  stored: Map<string, StoredObject>,
  dst: ObjectStore,
  report: { objects: number; storeHash: Record<string, number>; readBack: number },
  readBack: ReadBack,
): Promise<void> {
  const mismatches: string[] = [];
  const limit = pLimit(8);
  await Promise.all(
    objects.map((o) =>
      limit(async () => {
        const { problem, how } = await checkObject(
          o,
          read,
          expected.get(o.dstKey) ?? {},
          stored.get(o.dstKey),
          dst,
          readBack,
        );
        if (problem) {
          mismatches.push(`verification failed for ${o.dstKey}: ${problem}`);
          await dst.delete(o.dstKey).catch(() => undefined);
          return;
        }
        report.objects++;
        if (how === "read-back") report.readBack++;
        else report.storeHash[how] = (report.storeHash[how] ?? 0) + 1;
      }),
    ),
  );
  if (mismatches.length > 0) {
    const more = mismatches.length > 5 ? ` (and ${mismatches.length - 5} more)` : "";
    throw new TransferFailedError(`${mismatches.slice(0, 5).join("; ")}${more}`, mismatches);
  }
}

/** The length and CRC-32 of each range of a destination object, as its store holds it now. */
type ReadBack = (
  key: string,
  ranges: ReadonlyArray<{ offset: number; length: number }>,
) => Promise<Array<{ bytes: number; crc: string }>>;

/** Ranges read back in one call to a gateway: at most this many bytes... */
const READ_BACK_CALL_BYTES = 1024 ** 3;
/** ...each call given a minute, and a second more per this many bytes. */
const READ_BACK_BYTES_PER_SECOND = 20e6;

/**
 * Read-backs by the destination region's gateways (in turn), so that bytes read back stay in that
 * region, never carried to the runner; by the runner only when there is no such gateway, or it is an
 * older one that has no read-back.
 */
function readBackVia(
  gateways: readonly DestinationGateway[],
  bucket: string,
  dst: ObjectStore,
): ReadBack {
  const able = gateways.filter((g) => g.readBack !== undefined);
  let turn = 0;
  const here: ReadBack = (key, ranges) => readBackRanges(dst, key, ranges);
  if (able.length === 0) return here;
  return async (key, ranges) => {
    const gateway = able[turn++ % able.length];
    const out: Array<{ bytes: number; crc: string }> = [];
    for (let at = 0; at < ranges.length;) {
      let end = at + 1;
      let bytes = ranges[at].length;
      while (end < ranges.length && bytes + ranges[end].length <= READ_BACK_CALL_BYTES)
        bytes += ranges[end++].length;
      const timeoutMs = 60_000 + Math.ceil((bytes / READ_BACK_BYTES_PER_SECOND) * 1000);
      try {
        out.push(...(await gateway.readBack!(bucket, key, ranges.slice(at, end), timeoutMs)));
      } catch (err) {
        const older = err instanceof SkyplaneError && / 404 no route /.test(err.message);
        if (!older) throw err;
        return here(key, ranges);
      }
      at = end;
    }
    return out;
  };
}

/**
 * What is wrong with one destination object, if anything, and how it was checked; `written` is what
 * the store said it holds when it wrote the object, used when it includes a hash to compare.
 */
async function checkObject(
  o: PlannedObject,
  read: Map<string, Hashes>,
  expected: Hashes,
  written: StoredObject | undefined,
  dst: ObjectStore,
  readBack: ReadBack,
): Promise<{ problem?: string; how: string }> {
  const info = written && sharedHash(written.hashes, expected) ? written : await dst.head(o.dstKey);
  if (!info) return { problem: "missing at the destination", how: "size" };
  if (info.size !== o.size)
    return { problem: `${info.size} bytes, expected ${o.size}`, how: "size" };
  const reported = info.hashes ?? {};
  const shared = sharedHash(reported, expected);
  if (shared) {
    const wrong = hashMismatches(reported, expected);
    return {
      how: shared.alg,
      ...(wrong.length > 0 ? { problem: `the store reports ${wrong.join("; ")}` } : {}),
    };
  }
  // No hash in common: the object is read back, part by part, and each part's CRC-32 compared.
  const ranges = o.chunkIds.map((_, i) => {
    const offset = i * o.partSize;
    return { offset, length: o.multipart ? Math.min(o.partSize, o.size - offset) : o.size };
  });
  const back = await readBack(o.dstKey, ranges);
  for (const [i, id] of o.chunkIds.entries()) {
    const { length } = ranges[i];
    const { bytes, crc } = back[i] ?? { bytes: -1, crc: "" };
    const want = read.get(id)?.crc32;
    if (bytes !== length || crc !== want)
      return {
        how: "read-back",
        problem: `read back${o.multipart ? ` part ${i + 1}` : ""} with CRC-32 ${crc}, the source read ${want}`,
      };
  }
  return { how: "read-back" };
}
