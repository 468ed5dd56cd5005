import pLimit from "p-limit";
import type { ChunkRequest } from "../planner/program";
import {
  bucketUri,
  crc32,
  expectedHashes,
  formatCrc,
  Hashes,
  hashMismatches,
  listAll,
  ObjectStore,
  openStore,
  parseStoreUri,
  sharedHash,
  StoreContext,
  StoreError,
  StoreUri,
} from "../stores";
import { isUserError, SkyplaneError, UserError } from "../errors";
import {
  ChunkingOptions,
  DEFAULT_CHUNKING,
  destinationKey,
  mustFit,
  ObjectPair,
  planChunks,
  PlannedObject,
} from "./chunker";
import { GatewayClient } from "./gateway-client";
import { TransferProgress } from "./progress";

/** Where a transfer runs: the dataplane's source gateways and its destination region. */
export interface TransferTarget {
  /** Control API clients of the gateways that read from the source. */
  readonly sources: readonly GatewayClient[];
  /** Where stores find local buckets. */
  readonly stores: StoreContext;
  /** The destination region, whose gateways write to the destination bucket. */
  readonly dstRegion: string;
}

/** What to copy. */
export interface TransferRequest {
  /** Source URI: an object, or with `recursive` a prefix. */
  readonly src: string;
  /** Destination URI: an object key, or a prefix. */
  readonly dst: string;
  /** Copy everything under the source prefix. */
  readonly recursive: boolean;
  /** The objects to copy, when the caller has chosen them (sync); default: list the source. */
  readonly objects?: readonly ObjectPair[];
  /** List what symbolic links in a source folder point to; default skip them. */
  readonly followSymlinks?: boolean;
}

/** Tuning of a transfer. */
export interface TransferOptions extends ChunkingOptions {
  /** Check size and checksum of every object at the end. Default true. */
  readonly verify: boolean;
  /** Chunk requests per control API call. Default 1000. */
  readonly batchSize: number;
  /** How often gateways are asked for progress, in ms. Default 100. */
  readonly pollIntervalMs: number;
  /** Aborting it stops dispatching; the transfer then aborts its uploads and throws InterruptedError. */
  readonly signal?: AbortSignal;
}

/** Defaults of a transfer. */
export const DEFAULT_TRANSFER_OPTIONS: TransferOptions = {
  ...DEFAULT_CHUNKING,
  verify: true,
  batchSize: 1000,
  pollIntervalMs: 100,
};

/** What a finished transfer measured. */
export interface TransferResult {
  /** Objects copied. */
  readonly objects: number;
  /** Bytes copied. */
  readonly bytes: number;
  /** Wall-clock seconds from the first dispatch to the last verification. */
  readonly seconds: number;
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

/** Turns a store's error into a UserError (what to do) or leaves it as it is. */
export function asUserError(err: unknown): unknown {
  return err instanceof StoreError && isUserError(err)
    ? new UserError(err.code, err.message, { cause: err })
    : err;
}

/**
 * Refuses destination keys the destination cannot hold (`../x`, `/abs`, `.skyplane/…` in a local
 * bucket or folder), naming the first ones, before anything is provisioned or written.
 */
export function checkDestinationKeys(
  dst: ObjectStore,
  dstUri: StoreUri,
  pairs: readonly ObjectPair[],
): void {
  if (!dst.checkKey) return;
  const bad: string[] = [];
  for (const p of pairs) {
    try {
      dst.checkKey(p.dstKey);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      bad.push(JSON.stringify(p.dstKey));
    }
  }
  if (bad.length === 0) return;
  const more = bad.length > 3 ? ` and ${bad.length - 3} more` : "";
  throw new UserError(
    "INVALID_KEY",
    `invalid destination key ${bad.slice(0, 3).join(", ")}${more} in ${bucketUri(dstUri)}: ` +
      `keys there cannot start with '/' or '.skyplane/', nor have '.', '..' or empty segments; ` +
      "choose a destination key without them",
  );
}

/** The objects a request names, with their destination keys. */
export async function listObjects(
  req: TransferRequest,
  src: ObjectStore,
  srcUri: StoreUri,
  dstUri: StoreUri,
): Promise<ObjectPair[]> {
  if (!(await src.exists())) {
    throw new UserError("NO_SUCH_BUCKET", `the source ${bucketUri(srcUri)} does not exist`);
  }
  if (!req.recursive) {
    const info = srcUri.key ? await src.head(srcUri.key) : undefined;
    if (!info) {
      const hint = (await src.list({ prefix: srcUri.key, maxKeys: 1 })).objects.length
        ? "; it is a prefix: add -r (recursive) to copy what is under it"
        : "";
      throw new UserError("NO_SUCH_OBJECT", `no object ${req.src}${hint}`);
    }
    return [
      {
        srcKey: info.key,
        dstKey: destinationKey(info.key, "", dstUri.key, false),
        size: info.size,
        mode: info.mode,
      },
    ];
  }
  const prefix = srcUri.key;
  const base = prefix === "" || prefix.endsWith("/") ? prefix : prefix + "/";
  const pairs: ObjectPair[] = [];
  for await (const o of listAll(src, prefix)) {
    if (o.key !== prefix && !o.key.startsWith(base)) continue; // "data" must not match "database/x"
    pairs.push({
      srcKey: o.key,
      dstKey: destinationKey(o.key, prefix, dstUri.key, true),
      size: o.size,
      mode: o.mode,
    });
  }
  if (pairs.length === 0) throw new UserError("NOTHING_TO_COPY", `no objects under ${req.src}`);
  return pairs;
}

/**
 * Copies `req` through the given source gateways: lists, chunks, starts multipart uploads, dispatches
 * with back-pressure, tracks progress, completes uploads and verifies every object. On failure it aborts
 * the uploads it started, so no partial object appears, and throws an error naming what failed.
 */
export async function runTransfer(
  req: TransferRequest,
  target: TransferTarget,
  opts: TransferOptions = DEFAULT_TRANSFER_OPTIONS,
  progress: TransferProgress = new TransferProgress(),
): Promise<TransferResult> {
  const { sources, stores } = target;
  const started = Date.now();
  const uploads: Array<{ key: string; uploadId: string }> = [];
  let dst: ObjectStore | undefined;
  try {
    if (sources.length === 0)
      throw new SkyplaneError("NO_GATEWAYS", "the dataplane has no source gateway");
    const srcUri = parseStoreUri(req.src);
    const dstUri = parseStoreUri(req.dst);
    const src = openStore(srcUri, { ...stores, followSymlinks: req.followSymlinks });
    dst = openStore(dstUri, stores);
    if (!(await dst.exists())) {
      throw new UserError(
        "NO_SUCH_BUCKET",
        `the destination ${bucketUri(dstUri)} does not exist: create it first`,
      );
    }
    const pairs = req.objects ? [...req.objects] : await listObjects(req, src, srcUri, dstUri);
    checkDestinationKeys(dst, dstUri, pairs);
    // What writers killed mid-write left here (a crashed run) goes before this run adds its own.
    await dst.cleanupTemporaries?.();
    const dstBucket = bucketUri(dstUri);
    mustFit(pairs, dst.features, dstBucket);
    const plan = planChunks(pairs, opts, undefined, dst.features);
    const buckets = { srcBucket: bucketUri(srcUri), dstBuckets: { [target.dstRegion]: dstBucket } };
    // One algorithm is enough to predict the store's hash: CRC-32C where the store computes it (it
    // survives S3's SSE-KMS, whose ETag is no MD5), else its first; the gateways' CRC-32 is always there.
    const predictable = dst.features.hashes.includes("crc32c")
      ? (["crc32c"] as const)
      : dst.features.hashes.slice(0, 1);
    const chunks: ChunkRequest[] = [];
    const uploadIdOf = new Map<string, string>();
    for (const o of plan.objects.filter((p) => p.multipart)) {
      const uploadId = await dst.createMultipartUpload(o.dstKey, {
        partSize: o.partSize,
        mode: o.mode,
      });
      uploads.push({ key: o.dstKey, uploadId });
      uploadIdOf.set(o.dstKey, uploadId);
    }
    for (const c of plan.chunks) {
      const part = c.part && {
        number: c.part.number,
        uploadIds: { [dstBucket]: uploadIdOf.get(c.dstKey) as string },
      };
      // The source gateway hashes what it reads in the destination store's algorithms, so that the
      // store's own hashes of each object can be checked against the bytes read (not against metadata).
      const hashes = predictable.filter((h) => h !== "crc32");
      chunks.push({
        ...c,
        ...buckets,
        ...(part ? { part } : {}),
        ...(hashes.length ? { hashes } : {}),
      });
    }
    const bytes = pairs.reduce((n, p) => n + p.size, 0);
    progress.emit({ type: "planned", objects: pairs.length, chunks: chunks.length, bytes });

    if (opts.signal?.aborted) throw new InterruptedError();
    const read = await dispatchAndTrack(chunks, sources, opts, progress);
    const completed = await finalize(plan.objects, read, dst, uploads, progress);
    if (opts.verify) await verify(plan.objects, read, completed, dst, progress);
    await dst.cleanupTemporaries?.(); // tidies a folder's empty work folder
    const seconds = (Date.now() - started) / 1000;
    progress.emit({ type: "done", objects: pairs.length, bytes, seconds });
    return { objects: pairs.length, bytes, seconds };
  } catch (err) {
    for (const u of uploads)
      await dst?.abortMultipartUpload(u.key, u.uploadId).catch(() => undefined);
    // Work files of gateways that died with the transfer; a live gateway's stay until deprovision.
    await dst?.cleanupTemporaries?.().catch(() => undefined);
    const error = asUserError(err) as Error;
    progress.emit({ type: "failed", error });
    throw error;
  }
}

/** Sends chunk requests to the sources (round robin, resending what a full gateway refused) and waits for every outcome. */
async function dispatchAndTrack(
  chunks: ChunkRequest[],
  sources: readonly GatewayClient[],
  opts: TransferOptions,
  progress: TransferProgress,
): Promise<Map<string, Hashes>> {
  const byId = new Map(chunks.map((c) => [c.id, c]));
  const crcs = new Map<string, Hashes>();
  const failures: string[] = [];
  const cursors = sources.map(() => 0);
  let next = 0;
  let turn = 0;
  let stopped = false; // set when either loop fails, so that the other one ends too
  const { signal } = opts;
  // Sleeps one poll interval, or less when the transfer is interrupted.
  const sleep = () =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, opts.pollIntervalMs);
      signal?.addEventListener("abort", wake, { once: true });
    });

  const dispatch = async () => {
    let refusedInARow = 0;
    let share = 0;
    while (next < chunks.length && failures.length === 0 && !stopped && !signal?.aborted) {
      // Spread evenly: each round of the sources, every source is offered the same share of what was
      // left when the round began (at most a batch).
      if (turn % sources.length === 0)
        share = Math.min(opts.batchSize, Math.ceil((chunks.length - next) / sources.length));
      const client = sources[turn++ % sources.length];
      const batch = chunks.slice(next, next + share);
      const accepted = await client.submit(batch);
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
        await sleep(); // every gateway is full: back off until they drain
      }
    }
  };
  const track = async () => {
    while (crcs.size + failures.length < chunks.length && !stopped && !signal?.aborted) {
      await sleep();
      for (const [i, client] of sources.entries()) {
        const { cursor, events } = await client.chunkStatus(cursors[i]);
        cursors[i] = cursor;
        for (const e of events) {
          const c = byId.get(e.id);
          if (!c || crcs.has(e.id)) continue;
          if (e.state === "done" && e.crc) {
            crcs.set(e.id, { ...e.hashes, crc32: e.crc });
            progress.emit({ type: "chunk_done", chunkId: e.id, bytes: c.length });
          } else {
            failures.push(
              `${c.srcKey}${c.part ? ` part ${c.part.number}` : ""}: ${e.error ?? "failed"}`,
            );
            progress.emit({ type: "chunk_failed", chunkId: e.id, error: e.error ?? "failed" });
          }
        }
      }
      if (failures.length > 0) break;
    }
  };
  const guard = (p: Promise<void>) =>
    p.catch((err) => {
      stopped = true;
      throw err;
    });
  await Promise.all([guard(dispatch()), guard(track())]);
  if (signal?.aborted) throw new InterruptedError();
  if (failures.length > 0) {
    const more = failures.length > 5 ? ` (and ${failures.length - 5} more)` : "";
    throw new TransferFailedError(
      `the transfer failed: ${failures.slice(0, 5).join("; ")}${more}`,
      failures,
    );
  }
  return crcs;
}

/** Completes multipart uploads; returns the hashes the destination store should report of each object. */
async function finalize(
  objects: PlannedObject[],
  read: Map<string, Hashes>,
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
      const at = uploads.findIndex((u) => u.key === o.dstKey);
      const upload = uploads[at];
      await dst.completeMultipartUpload(
        o.dstKey,
        upload.uploadId,
        parts.map((p, i) => ({ partNumber: i + 1, hashes: { crc32: p.hashes.crc32 } })),
      );
      uploads.splice(at, 1);
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
 * read back and each part's CRC-32 compared. An object that fails is deleted, so none is left behind.
 */
async function verify(
  objects: PlannedObject[],
  read: Map<string, Hashes>,
  expected: Map<string, Hashes>,
  dst: ObjectStore,
  progress: TransferProgress,
): Promise<void> {
  const mismatches: string[] = [];
  const limit = pLimit(8);
  await Promise.all(
    objects.map((o) =>
      limit(async () => {
        const problem = await checkObject(o, read, expected.get(o.dstKey) ?? {}, dst);
        if (problem) {
          mismatches.push(`verification failed for ${o.dstKey}: ${problem}`);
          await dst.delete(o.dstKey).catch(() => undefined);
        }
      }),
    ),
  );
  if (mismatches.length > 0) {
    const more = mismatches.length > 5 ? ` (and ${mismatches.length - 5} more)` : "";
    throw new TransferFailedError(`${mismatches.slice(0, 5).join("; ")}${more}`, mismatches);
  }
  progress.emit({ type: "verified", objects: objects.length });
}

/** What is wrong with one destination object, or undefined. */
async function checkObject(
  o: PlannedObject,
  read: Map<string, Hashes>,
  expected: Hashes,
  dst: ObjectStore,
): Promise<string | undefined> {
  const info = await dst.head(o.dstKey);
  if (!info) return "missing at the destination";
  if (info.size !== o.size) return `${info.size} bytes, expected ${o.size}`;
  const reported = info.hashes ?? {};
  if (sharedHash(reported, expected)) {
    const wrong = hashMismatches(reported, expected);
    return wrong.length > 0 ? `the store reports ${wrong.join("; ")}` : undefined;
  }
  // No hash in common: read the object back, part by part, and compare each part's CRC-32.
  for (const [i, id] of o.chunkIds.entries()) {
    const offset = i * o.partSize;
    const length = o.multipart ? Math.min(o.partSize, o.size - offset) : o.size;
    const bytes = length === 0 ? Buffer.alloc(0) : await dst.get(o.dstKey, { offset, length });
    const crc = formatCrc(crc32(bytes));
    const want = read.get(id)?.crc32;
    if (bytes.length !== length || crc !== want)
      return `read back${o.multipart ? ` part ${i + 1}` : ""} with CRC-32 ${crc}, the source read ${want}`;
  }
  return undefined;
}
