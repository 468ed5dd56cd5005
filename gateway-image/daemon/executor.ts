import type {
  ChunkRequest,
  GatewayProgram,
  Operator,
  ReadObjectStoreOp,
} from "../../planner/program";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { constants as bufferConstants } from "node:buffer";
import { crc32, formatCrc } from "../../stores/checksum";
import { LocalStore } from "../../stores/local";
import {
  hashMismatches,
  hashParts,
  Hashes,
  PartHash,
  PartHasher,
  sharesHash,
} from "../../stores/hashes";
import { openStore, parseStoreUri, StoreContext } from "../../stores/registry";
import { readBackRanges } from "../../stores/types";
import type { ObjectStore } from "../../stores/types";
import pLimit from "p-limit";
import type { Stored } from "../wire";
import { BufferPool, ByteBudget } from "./memory";
import { DataServer } from "./receiver";
import { SendPool } from "./sender";
import { SkyplaneError } from "../../errors";

/** What a gateway needs besides its program. */
export interface GatewayRuntime {
  /** The dataplane token (control API and data connections). */
  readonly token: string;
  /** The dataplane key; chunks are encrypted when a send asks for it. */
  readonly key?: Buffer;
  /** Where stores find local buckets. */
  readonly stores: StoreContext;
  /** Bytes of chunks read but not yet acked downstream; bounds memory. Default 256 MiB. */
  readonly maxInflightBytes?: number;
  /** Bytes of chunks received but not yet handed on, over all connections. Default 256 MiB. */
  readonly maxReceiveBytes?: number;
  /** Chunk requests queued at most; beyond this a batch is accepted only in part. Default 10000. */
  readonly queueCapacity?: number;
  /**
   * Chunks read and not yet acked downstream at most, however small (the byte budget bounds large
   * ones). Default 2048: enough small objects in flight to batch them and keep every write busy.
   */
  readonly maxInflightChunks?: number;
  /** Writes (objects or parts) to destination stores at once, over all connections. Default 64. */
  readonly maxWrites?: number;
  /** How long a send target may be unreachable before its chunks fail; default 15 s. */
  readonly deadPeerMs?: number;
  /** Reports problems (rejected frames, dropped connections) for the log. */
  readonly log?: (line: string) => void;
}

/** The outcome of one chunk at this gateway. */
export interface ChunkEvent {
  /** Position in the event log (1-based); pass the last one seen as the cursor. */
  readonly seq: number;
  /** Chunk id. */
  readonly id: string;
  /** Done: handed on and acked by every destination; failed: gave up. */
  readonly state: "done" | "failed";
  /** Why it failed. */
  readonly error?: string;
  /** CRC-32 of the chunk as read (8 hex digits), on a source gateway's done events. */
  readonly crc?: string;
  /** The hashes the request asked for, of the chunk as read, on a source gateway's done events. */
  readonly hashes?: Hashes;
  /**
   * What each destination store reported it holds once it wrote the chunk's object (its size and its
   * own hashes), by bucket URI, on a source gateway's done events for a whole object.
   */
  readonly stored?: Stored;
}

/**
 * How long the outcomes that a status call has read stay for other readers (another job on gateways it
 * shares, polling every 100 ms) before they are dropped, with the ids that deduplicate resent requests:
 * a gateway that has moved a million chunks holds the last few seconds' outcomes, not a million.
 */
export const EVENT_RETAIN_MS = 30_000;

/** Counters for the status endpoint. */
export interface GatewayStats {
  /** Chunk requests waiting. */
  queued: number;
  /** Chunks being read or awaiting acks. */
  inflight: number;
  /** Bytes read from the source store. */
  bytesRead: number;
  /** Bytes received over the wire (decoded). */
  bytesReceived: number;
  /** Bytes written to a destination store. */
  bytesWritten: number;
  /** Frames sent to other gateways. */
  framesSent: number;
  /** Frames received from other gateways (each verified). */
  framesReceived: number;
  /** Bytes read back from a destination store for a runner's verification (`readBack`). */
  bytesReadBack: number;
  /** Objects and parts written to a destination store (one store call each). */
  writes: number;
}

/** Largest chunk a request may ask for: a part (5 GiB in every store), and what one buffer can hold. */
export const MAX_CHUNK_BYTES = Math.min(5 * 1024 ** 3, bufferConstants.MAX_LENGTH);

/** Read-backs served at once (`Executor.readBack`, each holding READ_BACK_RANGES_AT_ONCE buffers of READ_BACK_PIECE_BYTES), and the most ranges one may ask for. */
const READ_BACKS_AT_ONCE = 4;
const MAX_READ_BACK_RANGES = 10_000;

/** A chunk request this gateway will not act on; `code` says why, the message never what exists. */
export class RefusedError extends SkyplaneError<
  "BAD_CHUNK_REQUEST" | "BUCKET_NOT_IN_PROGRAM" | "KEY_OUTSIDE_BUCKET"
> {
  constructor(code: RefusedError["code"], message: string) {
    super(code, `${code}: ${message}`);
  }
}

/** Throws a RefusedError (BAD_CHUNK_REQUEST) naming what is wrong with `c`. */
export function checkChunkRequest(c: ChunkRequest): void {
  const bad = (what: string) => {
    throw new RefusedError(
      "BAD_CHUNK_REQUEST",
      `chunk request ${JSON.stringify(c?.id)}: ${what}; chunks come from the runner's chunker`,
    );
  };
  if (typeof c !== "object" || c === null) bad("must be an object");
  if (typeof c.id !== "string" || !/^[0-9a-f]{32}$/.test(c.id)) bad("id must be 32 hex digits");
  if (typeof c.srcKey !== "string" || typeof c.dstKey !== "string")
    bad("srcKey and dstKey: strings");
  const whole = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!whole(c.offset) || !whole(c.length) || !whole(c.objectSize))
    bad("offset, length and objectSize must be whole numbers of bytes");
  if (c.length > MAX_CHUNK_BYTES)
    bad(`length ${c.length} is over the ${MAX_CHUNK_BYTES}-byte limit of a part`);
  if (c.offset + c.length > c.objectSize) bad("offset + length is past the end of the object");
}

/** The refusal of a request naming a bucket outside the program. */
function notInProgram(id: string, verb: "read" | "write"): RefusedError {
  return new RefusedError(
    "BUCKET_NOT_IN_PROGRAM",
    `chunk ${id} refused: this gateway's program may not ${verb} that bucket (queue the copy before provision())`,
  );
}

/** How each part hash is written: lowercase hex of its width. */
const HASH_FORMS: Readonly<Record<PartHash, RegExp>> = {
  crc32: /^[0-9a-f]{8}$/,
  crc32c: /^[0-9a-f]{8}$/,
  md5: /^[0-9a-f]{32}$/,
};

/**
 * The source's hashes of a chunk (`readHashes`) in the algorithms `wanted`; one that is not well formed
 * is left out, to be computed here instead.
 */
export function readHashesOf(req: ChunkRequest, wanted: readonly PartHash[]): Hashes {
  const out: Hashes = {};
  for (const alg of wanted) {
    const v = req.readHashes?.[alg];
    if (typeof v === "string" && HASH_FORMS[alg].test(v)) out[alg] = v;
  }
  return out;
}

/** The real paths of bucket folders, resolved once each (see `confine`). */
const realRoots = new Map<string, string>();

/**
 * Fails unless `key` of a local or folder store resolves inside its bucket folder: no `..`, no absolute
 * path, no symbolic link leading out (the deepest existing folder of the path is resolved and must stay
 * under the folder's real path). Other stores hold keys, not paths. The folder's real path is resolved
 * once: a folder swapped for a link afterwards resolves elsewhere, and is refused all the same.
 */
async function confine(store: ObjectStore, id: string, key: string): Promise<void> {
  if (!(store instanceof LocalStore)) return;
  const refused = () =>
    new RefusedError("KEY_OUTSIDE_BUCKET", `chunk ${id} refused: its key leads outside the bucket`);
  let file: string;
  try {
    file = store.objectPath(key);
  } catch {
    throw refused();
  }
  let root = realRoots.get(store.root);
  if (root === undefined) {
    try {
      root = await fsp.realpath(store.root);
    } catch {
      return; // no bucket folder: the store's own error follows, and nothing can escape it
    }
    realRoots.set(store.root, root);
  }
  for (let at = file; ; at = path.dirname(at)) {
    // A destination's file is not there yet: its folder decides, without a failed call per object.
    if (!fs.existsSync(at) && at !== store.root && path.dirname(at) !== at) continue;
    let real: string;
    try {
      // realpath(3) itself: microseconds, less than a round trip through the threadpool.
      real = fs.realpathSync.native(at);
    } catch {
      if (at === store.root || path.dirname(at) === at) return; // the folder is gone: as above
      continue; // not there (yet): its folder decides
    }
    const rel = path.relative(root, real);
    if (rel.startsWith("..") || path.isAbsolute(rel)) throw refused();
    return;
  }
}

interface Sink {
  /** Hands a chunk on; resolves to what the destination stores reported they hold, if anything. */
  handle(req: ChunkRequest, raw: Buffer[], rawCrc: number): Promise<Stored | undefined>;
  load(): number;
  close(): Promise<void>;
}

/** Executes one GatewayProgram: pulls chunk requests from its queue or the wire and runs the operators. */
export class GatewayExecutor {
  /** Outcomes in order, from seq `dropped + 1`: those not yet read, and those read in the last EVENT_RETAIN_MS. */
  private readonly log: ChunkEvent[] = [];
  /** Outcomes dropped from the front of the log (read long enough ago). */
  private dropped = 0;
  /** How far each status call read, and when, oldest first: what `trim` may drop once it is old. */
  private readonly reads: Array<{ upTo: number; at: number }> = [];
  /** Counters. */
  readonly stats: GatewayStats = {
    queued: 0,
    inflight: 0,
    bytesRead: 0,
    bytesReceived: 0,
    bytesWritten: 0,
    framesSent: 0,
    framesReceived: 0,
    bytesReadBack: 0,
    writes: 0,
  };
  private readonly queue: ChunkRequest[] = [];
  private readonly sinks: Sink[] = [];
  private readonly source?: { op: ReadObjectStoreOp; sink: Sink };
  private readonly stores = new Map<string, ObjectStore>();
  private readonly receiver?: DataServer;
  private readonly budget: ByteBudget;
  private readonly pool: BufferPool;
  private pumping = false;
  private readonly known = new Set<string>();
  /** Bounds the writes to destination stores at once. */
  private readonly writeSlots: ReturnType<typeof pLimit>;
  /** The buckets the program writes: the only ones `readBack` reads. */
  private readonly writeBuckets = new Set<string>();
  /** Bounds the read-backs at once (each holds READ_BACK_RANGES_AT_ONCE buffers of READ_BACK_PIECE_BYTES). */
  private readonly readBackSlots = pLimit(READ_BACKS_AT_ONCE);

  constructor(
    /** The program. */
    readonly program: GatewayProgram,
    private readonly runtime: GatewayRuntime,
  ) {
    this.budget = new ByteBudget(runtime.maxInflightBytes ?? 256 * 1024 * 1024);
    this.writeSlots = pLimit(runtime.maxWrites ?? 64);
    this.pool = new BufferPool(this.budget.capacity);
    for (const root of program.operators) {
      if (root.op === "read_object_store") {
        this.source = { op: root, sink: this.build(root.next) };
      } else if (root.op === "receive") {
        const sink = this.build(root.next);
        const receiveBudget = new ByteBudget(runtime.maxReceiveBytes ?? 256 * 1024 * 1024);
        this.receiver = new DataServer({
          token: runtime.token,
          key: runtime.key,
          requireEncryption: root.encrypted ?? runtime.key !== undefined,
          handler: (req, raw, rawCrc) => {
            this.stats.bytesReceived += req.length;
            return sink.handle(req, raw, rawCrc);
          },
          onFrame: () => this.stats.framesReceived++,
          onProblem: runtime.log,
          budget: receiveBudget,
          pool: new BufferPool(receiveBudget.capacity),
        });
      }
    }
  }

  /** True when this gateway reads from a store, so it takes chunk requests. */
  get isSource(): boolean {
    return this.source !== undefined;
  }

  /** The outcomes still held, in order (those not yet dropped, see EVENT_RETAIN_MS). */
  get events(): readonly ChunkEvent[] {
    return this.log;
  }

  /**
   * Up to `max` outcomes after `cursor` (the last seq seen; 0 at first) and the cursor to pass next.
   * Outcomes read longer than EVENT_RETAIN_MS ago (by `now`) are dropped first; a cursor from before
   * them resumes at the oldest outcome held.
   */
  eventsAfter(
    cursor: number,
    max: number,
    now = Date.now(),
  ): { cursor: number; events: ChunkEvent[] } {
    this.trim(now);
    const from = Math.max(cursor, this.dropped);
    const events = this.log.slice(from - this.dropped, from - this.dropped + max);
    const upTo = from + events.length;
    if (events.length > 0) this.reads.push({ upTo, at: now });
    return { cursor: Math.max(cursor, upTo), events };
  }

  /** Drops the outcomes read at least EVENT_RETAIN_MS before `now`, and forgets their chunk ids. */
  private trim(now: number): void {
    let upTo = this.dropped;
    while (this.reads.length > 0 && now - this.reads[0].at >= EVENT_RETAIN_MS)
      upTo = Math.max(upTo, (this.reads.shift() as { upTo: number }).upTo);
    if (upTo <= this.dropped) return;
    for (const e of this.log.splice(0, upTo - this.dropped)) this.known.delete(e.id);
    this.dropped = upTo;
  }

  /** Starts the data server if the program receives; resolves to its port. */
  async listen(port: number, host: string): Promise<number | undefined> {
    return this.receiver?.listen(port, host);
  }

  /**
   * Queues what fits of `chunks` and returns how many it took (a prefix of the batch). Requests it
   * already has are taken again without being queued twice.
   */
  accept(chunks: ChunkRequest[]): number {
    if (!this.source)
      throw new SkyplaneError(
        "NOT_A_SOURCE",
        "this gateway does not read from a store; send chunk requests to a source",
      );
    // The whole batch is checked first: a bad request refuses the batch, and nothing is queued.
    chunks.forEach(checkChunkRequest);
    const room = Math.max(
      0,
      (this.runtime.queueCapacity ?? 10_000) - this.queue.length - this.stats.inflight,
    );
    const taken = chunks.slice(0, room);
    for (const c of taken) {
      if (this.known.has(c.id)) continue;
      this.known.add(c.id);
      this.queue.push(c);
    }
    this.stats.queued = this.queue.length;
    void this.pump();
    return taken.length;
  }

  /** Stops the data server and every send pool. */
  async close(): Promise<void> {
    await this.receiver?.close();
    await Promise.all(this.sinks.map((s) => s.close()));
  }

  private async pump(): Promise<void> {
    if (this.pumping || !this.source) return;
    this.pumping = true;
    const src = this.source;
    try {
      while (this.queue.length > 0) {
        const next = this.queue[0];
        // Tiny chunks are capped by count; the budget bounds bytes (one larger chunk still goes, alone).
        if (this.stats.inflight >= (this.runtime.maxInflightChunks ?? 2048)) {
          await new Promise<void>((resolve) => (this.released = resolve));
          continue;
        }
        await this.budget.acquire(next.length);
        this.queue.shift();
        this.stats.queued = this.queue.length;
        this.stats.inflight++;
        void this.move(src.op, src.sink, next).finally(() => {
          this.stats.inflight--;
          this.budget.release(next.length);
          const r = this.released;
          this.released = undefined;
          r?.();
        });
      }
    } finally {
      this.pumping = false;
    }
  }

  private released?: () => void;

  private async move(op: ReadObjectStoreOp, sink: Sink, req: ChunkRequest): Promise<void> {
    // Parts are read into pooled buffers; a buffer goes back only once every destination has acked
    // the chunk, when no socket write or retry can still refer to it.
    let lease: ReturnType<BufferPool["acquire"]> | undefined;
    try {
      const bucket = req.srcBucket ?? op.bucket;
      if (!bucket)
        throw new SkyplaneError(
          "BAD_CHUNK_REQUEST",
          `chunk ${req.id} names no source bucket, and the program none either`,
        );
      if (bucket !== op.bucket && !op.buckets?.includes(bucket)) throw notInProgram(req.id, "read");
      const store = this.store(bucket);
      await confine(store, req.id, req.srcKey);
      lease = req.length >= 1 << 20 ? this.pool.acquire(req.length) : undefined;
      // The CRC-32 and the hashes asked for are taken of each piece as it lands, still in the cache.
      let crc = 0;
      let hashed = 0;
      const hasher = req.hashes?.length ? new PartHasher(req.hashes) : undefined;
      const raw =
        req.length === 0
          ? Buffer.alloc(0)
          : await store.get(
              req.srcKey,
              { offset: req.offset, length: req.length },
              lease?.data,
              (piece) => {
                crc = crc32(piece, crc);
                hasher?.update(piece);
                hashed += piece.length;
              },
            );
      if (raw.length !== req.length) {
        throw new SkyplaneError(
          "SOURCE_CHANGED",
          `source object ${req.srcKey} changed: read ${raw.length} bytes at ${req.offset}, expected ${req.length}`,
        );
      }
      if (hashed !== raw.length)
        throw new SkyplaneError(
          "UNREACHABLE",
          `the store handed over ${hashed} of the ${raw.length} bytes it read of ${req.srcKey}`,
        );
      this.stats.bytesRead += raw.length;
      const hashes = await hasher?.digest();
      // The chunk goes on with what was read of it (and nothing a runner may have put in its place).
      const { readHashes: _, ...asked } = req;
      const onward: ChunkRequest = hashes ? { ...asked, readHashes: hashes } : asked;
      const stored = await sink.handle(onward, [raw], crc);
      this.record(req.id, "done", undefined, formatCrc(crc), hashes, stored);
    } catch (err) {
      this.record(req.id, "failed", (err as Error).message);
    } finally {
      lease?.release();
    }
  }

  private record(
    id: string,
    state: ChunkEvent["state"],
    error?: string,
    crc?: string,
    hashes?: Hashes,
    stored?: Stored,
  ): void {
    this.log.push({
      seq: this.dropped + this.log.length + 1,
      id,
      state,
      ...(error ? { error } : {}),
      ...(crc ? { crc } : {}),
      ...(hashes ? { hashes } : {}),
      ...(stored ? { stored } : {}),
    });
  }

  /**
   * The CRC-32 and length of each range of `key` as the destination store `bucket` returns it now. A
   * runner verifying an object whose store reports no hash it can predict (Azure's committed blocks, an
   * S3-compatible server's whole-object MD5 of a multipart upload) reads it back here, in the
   * destination's region, instead of carrying every byte to itself. Only a bucket this gateway's
   * program writes is read, and, in a local bucket, only a key inside it.
   */
  async readBack(
    bucket: string,
    key: string,
    ranges: ReadonlyArray<{ offset: number; length: number }>,
  ): Promise<Array<{ bytes: number; crc: string }>> {
    if (!this.writeBuckets.has(bucket))
      throw new RefusedError(
        "BUCKET_NOT_IN_PROGRAM",
        "read-back refused: this gateway's program does not write that bucket",
      );
    const whole = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
    if (
      typeof key !== "string" ||
      !Array.isArray(ranges) ||
      ranges.length === 0 ||
      ranges.length > MAX_READ_BACK_RANGES ||
      !ranges.every((r) => whole(r?.offset) && whole(r?.length) && r.length <= MAX_CHUNK_BYTES)
    )
      throw new RefusedError(
        "BAD_CHUNK_REQUEST",
        `read-back refused: it names a key and 1 to ${MAX_READ_BACK_RANGES} ranges, each a whole offset and a length of at most ${MAX_CHUNK_BYTES} bytes`,
      );
    const store = this.store(bucket);
    await confine(store, "read-back", key);
    return this.readBackSlots(async () => {
      const back = await readBackRanges(store, key, ranges);
      for (const b of back) this.stats.bytesReadBack += b.bytes;
      return back;
    });
  }

  /** The store of a bucket URI, opened once. */
  private store(bucket: string): ObjectStore {
    let store = this.stores.get(bucket);
    if (!store) {
      store = openStore(parseStoreUri(bucket), this.runtime.stores);
      this.stores.set(bucket, store);
    }
    return store;
  }

  private build(op: Operator): Sink {
    const sink = this.buildOne(op);
    this.sinks.push(sink);
    return sink;
  }

  private buildOne(op: Operator): Sink {
    switch (op.op) {
      case "write_object_store": {
        const region = this.program.region;
        for (const b of [op.bucket, ...(op.buckets ?? [])]) if (b) this.writeBuckets.add(b);
        let writing = 0;
        return {
          handle: (req, raw, rawCrc) =>
            this.writeSlots(async (): Promise<Stored | undefined> => {
              writing++;
              try {
                const bucket = req.dstBuckets?.[region] ?? op.bucket;
                if (!bucket)
                  throw new SkyplaneError(
                    "BAD_CHUNK_REQUEST",
                    `chunk ${req.id} names no destination bucket in ${region}`,
                  );
                if (bucket !== op.bucket && !op.buckets?.includes(bucket))
                  throw notInProgram(req.id, "write");
                const store = this.store(bucket);
                await confine(store, req.id, req.dstKey);
                const uploadId = req.part?.uploadIds[bucket];
                if (req.part && !uploadId)
                  throw new SkyplaneError(
                    "BAD_CHUNK_REQUEST",
                    `chunk ${req.id} has no upload id for ${bucket}`,
                  );
                // The hashes the store's service checks and reports: those the source took of the bytes it
                // read where it sent them, so that the store checks the bytes end to end; the others
                // computed here of the bytes received (which match what the source read: every frame's
                // CRC-32 was checked on arrival).
                const wanted = store.features.hashes.filter((h) => h !== "crc32");
                const given = readHashesOf(req, wanted);
                const sent: Hashes = {
                  ...(await hashParts(
                    wanted.filter((h) => given[h] === undefined),
                    raw,
                  )),
                  ...given,
                  crc32: formatCrc(rawCrc),
                };
                const opts = { crc32: rawCrc, hashes: sent };
                const written =
                  req.part && uploadId
                    ? await store.uploadPart(req.dstKey, uploadId, req.part.number, raw, opts)
                    : await store.put(req.dstKey, raw, { ...opts, mode: req.mode });
                const size = "size" in written ? written.size : req.length;
                // Trust only what the store reports it holds: it must name a hash we know, and match it.
                const reported = written.hashes ?? {};
                const wrong = hashMismatches(reported, sent);
                if (wrong.length > 0 || !sharesHash(reported, sent)) {
                  // A whole object that landed wrong is removed rather than left for a reader.
                  if (!req.part) await store.delete(req.dstKey).catch(() => undefined);
                  throw new SkyplaneError(
                    "CHECKSUM_MISMATCH",
                    `verification failed for ${req.dstKey}${req.part ? ` part ${req.part.number}` : ""}: ` +
                      (wrong.length > 0
                        ? `${bucket} reports ${wrong.join("; ")}`
                        : `${bucket} reported no hash of what it stored`),
                  );
                }
                this.stats.bytesWritten += req.length;
                this.stats.writes++;
                // What the store holds now, as it said: the runner checks it against what was read.
                return req.part ? undefined : { [bucket]: { size, hashes: reported } };
              } finally {
                writing--;
              }
            }),
          load: () => writing + this.writeSlots.pendingCount,
          close: async () => undefined,
        };
      }
      case "send": {
        const pool = new SendPool({
          target: op.target,
          connections: op.connections,
          token: this.runtime.token,
          compress: op.compress,
          key: op.encrypt ? this.requireKey() : undefined,
          deadPeerMs: this.runtime.deadPeerMs,
          onFrame: () => this.stats.framesSent++,
        });
        return {
          handle: (r, raw, c) => pool.send(r, raw, c),
          load: () => pool.load,
          close: () => pool.close(),
        };
      }
      case "mux_and": {
        const children = op.children.map((c) => this.buildOne(c));
        return {
          // Every child's destinations, together (each names its own buckets).
          handle: async (r, raw, c) => {
            const all = (await Promise.all(children.map((ch) => ch.handle(r, raw, c)))).filter(
              (s): s is Stored => s !== undefined,
            );
            return all.length > 0 ? Object.assign({}, ...all) : undefined;
          },
          load: () => Math.max(...children.map((ch) => ch.load())),
          close: async () => void (await Promise.all(children.map((ch) => ch.close()))),
        };
      }
      case "mux_or": {
        const children = op.children.map((c) => this.buildOne(c));
        const weights = op.weights ?? children.map(() => 1);
        // The child with the least work per unit of weight takes the chunk: gateways of a region share
        // the load, and faster paths get proportionally more, even when many chunks arrive at once.
        const cost = (i: number) => (children[i].load() + 1) / weights[i];
        return {
          handle: (r, raw, c) => {
            let best = 0;
            for (let i = 1; i < children.length; i++) if (cost(i) < cost(best)) best = i;
            return children[best].handle(r, raw, c);
          },
          load: () => Math.min(...children.map((ch) => ch.load())),
          close: async () => void (await Promise.all(children.map((ch) => ch.close()))),
        };
      }
      case "read_object_store":
      case "receive":
        throw new SkyplaneError("BAD_PROGRAM", `${op.op} can only be a root operator`);
      default: {
        const never: never = op;
        throw new SkyplaneError("UNREACHABLE", `unknown operator ${JSON.stringify(never)}`);
      }
    }
  }

  private requireKey(): Buffer {
    if (!this.runtime.key)
      throw new SkyplaneError(
        "NO_KEY",
        "the program encrypts, but the gateway was started without a key",
      );
    return this.runtime.key;
  }
}
