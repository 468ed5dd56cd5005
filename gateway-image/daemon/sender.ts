import * as net from "node:net";
import type { ChunkRequest, GatewayAddress } from "../../planner/program";
import * as crypto from "node:crypto";
import { EncodeOptions, encodeBatchFrame, encodeFrame } from "../codec";
import {
  ACK_BYTES,
  AckStatus,
  ChunkOutcome,
  connectionKeys,
  ConnectionKeys,
  decodeAck,
  decodeHello,
  decodeOkMessage,
  decodeResultsMessage,
  encodeAuth,
  HELLO_BYTES,
  MAX_BATCH_CHUNKS,
  MAX_META_BYTES,
  Stored,
  TAG_BYTES,
  verifyAckTag,
  WireError,
} from "../wire";
import { SocketReader } from "./socket-reader";
import { SkyplaneError } from "../../errors";

/** Options of a send pool. */
export interface SendPoolOptions extends EncodeOptions {
  /** Encrypt every frame (the program's `encrypt`); needs `key`. Default: when a key is given. */
  readonly encrypt?: boolean;
  /** The receiving gateway. */
  readonly target: GatewayAddress;
  /** Parallel TCP connections. */
  readonly connections: number;
  /** The dataplane token. */
  readonly token: string;
  /** The dataplane key; required when `encrypt` is set. */
  readonly key?: Buffer;
  /** Tries per chunk before it fails (a rejected frame or a lost connection costs one). */
  readonly maxAttempts?: number;
  /** How long the target may be unreachable before queued chunks fail; default 15 s. */
  readonly deadPeerMs?: number;
  /** Frames sent ahead of their acks on one connection; default 32. */
  readonly window?: number;
  /** Bytes sent ahead of their acks on one connection; default 128 MiB (one larger chunk still goes). */
  readonly windowBytes?: number;
  /**
   * Chunks of at most this many bytes travel together in batch frames, one header, tag and ack for
   * many; default 256 KiB, 0 for one frame per chunk.
   */
  readonly batchChunkBytes?: number;
  /** Most bytes of one batch frame; default 4 MiB. */
  readonly batchBytes?: number;
  /** Most chunks of one batch frame; default (and at most) MAX_BATCH_CHUNKS. */
  readonly batchChunks?: number;
  /** Called for each frame sent, with the number of chunks it holds. */
  readonly onFrame?: (chunks: number) => void;
}

interface Job {
  readonly req: ChunkRequest;
  readonly raw: Buffer[];
  readonly size: number;
  readonly rawCrc: number;
  /** Bytes its request adds to a batch's metadata. */
  readonly metaBytes: number;
  attempts: number;
  readonly resolve: (stored: Stored | undefined) => void;
  readonly reject: (err: Error) => void;
}

/** Bytes sent between two turns given to the event loop while one frame is enciphered. */
const YIELD_EVERY_BYTES = 4 * 1024 * 1024;

/** The target of a send is down; the message names it. */
export class PeerUnreachableError extends SkyplaneError<"PEER_UNREACHABLE"> {
  constructor(message: string) {
    super("PEER_UNREACHABLE", message);
  }
}

/** Bytes of a batch's metadata besides its chunk requests and CRCs. */
const BATCH_META_OVERHEAD = 32;

/**
 * Sends chunks to one gateway over several connections. Each chunk resolves when the receiver acks it
 * (written or forwarded), to what the destination stores reported; a rejected frame or a lost
 * connection sends it again, up to `maxAttempts`. Small chunks waiting together go as one batch frame.
 */
export class SendPool {
  private readonly queue: Job[] = [];
  private readonly idle: Array<() => void> = [];
  private closed = false;
  private connected = 0;
  private lastProgress = Date.now();
  private readonly workers: Promise<void>[] = [];
  private readonly sockets = new Set<net.Socket>();
  private outstanding = 0;

  constructor(private readonly opts: SendPoolOptions) {
    for (let i = 0; i < opts.connections; i++) this.workers.push(this.worker());
  }

  /** Chunks queued or awaiting acks: how busy this pool is (mux_or sends to the least busy). */
  get load(): number {
    return this.queue.length + this.outstanding;
  }

  /**
   * Sends a chunk; resolves once the receiver has acked it, to what the destination stores reported
   * they hold (undefined when the chunk was a part, or no store said).
   */
  send(req: ChunkRequest, raw: Buffer[], rawCrc: number): Promise<Stored | undefined> {
    if (this.closed)
      return Promise.reject(new SkyplaneError("SEND_POOL_CLOSED", "send pool is closed"));
    const size = raw.reduce((n, p) => n + p.length, 0);
    // Its request and its CRC (up to 10 digits) with their separators.
    const metaBytes = this.batches(size) ? Buffer.byteLength(JSON.stringify(req)) + 12 : 0;
    return new Promise((resolve, reject) => {
      this.queue.push({ req, raw, size, rawCrc, metaBytes, attempts: 0, resolve, reject });
      this.wakeAll();
    });
  }

  /** True when a chunk of `size` bytes may travel in a batch frame. */
  private batches(size: number): boolean {
    return size <= (this.opts.batchChunkBytes ?? 256 * 1024);
  }

  /**
   * The chunks of the next frame, taken from the queue: the first one alone, or, if it is small, with
   * the small ones after it, as many as one batch frame holds.
   */
  private takeFrame(): Job[] {
    const first = this.queue.shift();
    if (!first) return [];
    if (!this.batches(first.size)) return [first];
    const most = Math.min(this.opts.batchChunks ?? MAX_BATCH_CHUNKS, MAX_BATCH_CHUNKS);
    const maxBytes = this.opts.batchBytes ?? 4 * 1024 * 1024;
    const jobs = [first];
    let bytes = first.size;
    let metaBytes = BATCH_META_OVERHEAD + first.metaBytes;
    while (jobs.length < most && this.queue.length > 0) {
      const next = this.queue[0];
      if (!this.batches(next.size) || bytes + next.size > maxBytes) break;
      if (metaBytes + next.metaBytes > MAX_META_BYTES) break;
      jobs.push(this.queue.shift() as Job);
      bytes += next.size;
      metaBytes += next.metaBytes;
    }
    return jobs;
  }

  /** Stops every connection; queued chunks fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0))
      job.reject(new SkyplaneError("SEND_POOL_CLOSED", "send pool closed"));
    this.wakeAll();
    for (const s of this.sockets) s.destroy();
    await Promise.allSettled(this.workers);
  }

  private describe(): string {
    const t = this.opts.target;
    return `gateway ${t.gatewayId} at ${t.host}:${t.port}`;
  }

  private retry(job: Job, why: string): void {
    job.attempts++;
    if (this.closed) {
      job.reject(new SkyplaneError("SEND_POOL_CLOSED", "send pool closed"));
    } else if (job.attempts >= (this.opts.maxAttempts ?? 5)) {
      job.reject(
        new SkyplaneError(
          "CHUNK_FAILED",
          `chunk ${job.req.id} to ${this.describe()} failed ${job.attempts} times: ${why}`,
        ),
      );
    } else {
      this.queue.unshift(job);
      this.wakeAll();
    }
  }

  /** Wakes every waiting worker; each looks at the queue again (a stale wake-up costs nothing). */
  private wakeAll(): void {
    for (const wake of this.idle.splice(0)) wake();
  }

  /** Fails every queued chunk when the target has been unreachable for too long. */
  private giveUpIfDead(err: Error): void {
    const deadFor = Date.now() - this.lastProgress;
    if (this.connected > 0 || deadFor < (this.opts.deadPeerMs ?? 15_000)) return;
    const failure = new PeerUnreachableError(`${this.describe()} is unreachable (${err.message})`);
    for (const job of this.queue.splice(0)) job.reject(failure);
  }

  private async worker(): Promise<void> {
    let backoff = 50;
    while (!this.closed) {
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => this.idle.push(resolve));
        continue;
      }
      let conn: { socket: net.Socket; reader: SocketReader; keys: ConnectionKeys };
      try {
        conn = await this.connect();
      } catch (err) {
        this.giveUpIfDead(err as Error);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 1000);
        continue;
      }
      backoff = 50;
      this.connected++;
      this.lastProgress = Date.now();
      try {
        await this.pump(conn.socket, conn.reader, conn.keys);
      } finally {
        this.connected--;
        this.lastProgress = Date.now();
        conn.socket.destroy();
      }
    }
  }

  private async connect(): Promise<{
    socket: net.Socket;
    reader: SocketReader;
    keys: ConnectionKeys;
  }> {
    const { host, port } = this.opts.target;
    const socket = net.connect({ host, port });
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", reject);
      });
      const reader = new SocketReader(socket);
      const serverNonce = decodeHello(await reader.read(HELLO_BYTES));
      const clientNonce = crypto.randomBytes(16);
      socket.write(encodeAuth(this.opts.token, serverNonce, clientNonce));
      const keys = connectionKeys(this.opts.token, this.opts.key, serverNonce, clientNonce);
      return { socket, reader, keys };
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  /** Sends frames on one connection and matches its acks, until the pool closes or the link breaks. */
  private async pump(
    socket: net.Socket,
    reader: SocketReader,
    keys: ConnectionKeys,
  ): Promise<void> {
    // Frames awaiting their ack, by the frame's chunk id (a batch's first): the chunks each carries.
    const inflight = new Map<string, Job[]>();
    const window = this.opts.window ?? 32;
    const windowBytes = this.opts.windowBytes ?? 128 * 1024 * 1024;
    let inflightBytes = 0;
    let wakeOnAck: (() => void) | undefined;
    let broken: Error | undefined;
    let frameSeq = 0;
    const acks = (async () => {
      for (let ackSeq = 0; ; ackSeq++) {
        const head = await reader.read(ACK_BYTES);
        const ack = decodeAck(head);
        const body = ack.messageLength ? await reader.read(ack.messageLength) : Buffer.alloc(0);
        const tag = await reader.read(TAG_BYTES);
        if (!verifyAckTag(keys.acks, ackSeq, Buffer.concat([head, body]), tag))
          throw new WireError("an ack failed authentication (forged, replayed or corrupted)");
        const message = body.toString("utf8");
        const jobs = inflight.get(ack.chunkId);
        if (!jobs) continue;
        // Read before anything is settled: an ack that does not parse breaks the connection, and
        // the frame's chunks are sent again.
        const outcomes = this.outcomes(ack.status, message, jobs.length);
        inflight.delete(ack.chunkId);
        for (const job of jobs) inflightBytes -= job.size;
        this.outstanding -= jobs.length;
        this.lastProgress = Date.now();
        if (ack.status === AckStatus.Rejected) {
          for (const job of jobs) this.retry(job, `rejected by the receiver: ${message}`);
        } else {
          jobs.forEach((job, i) => {
            const o = outcomes?.[i] ?? { ok: false, error: message };
            if (o.ok) job.resolve(o.stored);
            else
              job.reject(
                new SkyplaneError(
                  "CHUNK_FAILED",
                  `${this.describe()} could not handle chunk ${job.req.id}: ${o.error}`,
                ),
              );
          });
        }
        wakeOnAck?.();
      }
    })().catch((err: Error) => {
      broken = err;
      wakeOnAck?.();
      this.wakeAll();
    });
    const ackOrWork = () =>
      new Promise<void>((resolve) => {
        wakeOnAck = resolve;
        this.idle.push(resolve);
      });
    try {
      while (!broken && !this.closed) {
        const room = inflight.size === 0 || (inflight.size < window && inflightBytes < windowBytes);
        if (!room || this.queue.length === 0) {
          await ackOrWork();
          continue;
        }
        // Small chunks whose reads finish in this turn of the event loop join the batch.
        if (this.batches(this.queue[0].size) && this.queue.length < MAX_BATCH_CHUNKS)
          await new Promise((resolve) => setImmediate(resolve));
        const jobs = this.takeFrame();
        if (jobs.length === 0) continue;
        inflight.set(jobs[0].req.id, jobs);
        for (const job of jobs) inflightBytes += job.size;
        this.outstanding += jobs.length;
        const encode = {
          compress: this.opts.compress,
          encrypt: this.opts.encrypt ?? this.opts.key !== undefined,
        };
        const frame =
          jobs.length === 1
            ? await encodeFrame(jobs[0].req, jobs[0].raw, jobs[0].rawCrc, encode, keys, frameSeq++)
            : await encodeBatchFrame(jobs, encode, keys, frameSeq++);
        this.opts.onFrame?.(jobs.length);
        await write(socket, frame.head);
        let sinceYield = 0;
        for (const piece of frame.payload) {
          await write(socket, piece);
          // Each piece was enciphered synchronously; when the socket never pushes back (a fast
          // link), give timers and other sockets a turn every few MiB rather than once per chunk.
          sinceYield += piece.length;
          if (sinceYield >= YIELD_EVERY_BYTES) {
            sinceYield = 0;
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      }
    } catch (err) {
      broken = broken ?? (err as Error);
    } finally {
      socket.destroy();
      await acks;
      for (const jobs of inflight.values()) {
        this.outstanding -= jobs.length;
        for (const job of jobs) this.retry(job, `connection lost: ${broken?.message ?? "closed"}`);
      }
    }
  }

  /**
   * The outcome of each of a frame's `count` chunks that an ack of `status` with `message` reports;
   * undefined for a rejected frame (to be resent). Throws WireError for an ack that does not fit the
   * frame (results for a single chunk, a plain ok for a batch).
   */
  private outcomes(status: AckStatus, message: string, count: number): ChunkOutcome[] | undefined {
    switch (status) {
      case AckStatus.Rejected:
        return undefined;
      case AckStatus.Ok:
        if (count !== 1) throw new WireError("a batch frame got a single chunk's ack");
        return [{ ok: true, stored: decodeOkMessage(message) }];
      case AckStatus.Failed:
        return Array.from({ length: count }, () => ({ ok: false, error: message }));
      case AckStatus.Results:
        return decodeResultsMessage(message, count);
      default: {
        const never: never = status;
        throw new WireError(`unknown ack status ${String(never)}`);
      }
    }
  }
}

/** Writes `buf`, waiting for the socket to drain when its buffer is full. */
function write(socket: net.Socket, buf: Buffer): Promise<void> {
  if (socket.destroyed)
    return Promise.reject(new SkyplaneError("CONNECTION_CLOSED", "connection closed"));
  if (socket.write(buf)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      socket.off("drain", ok);
      socket.off("close", closed);
      if (err) reject(err);
      else resolve();
    };
    const ok = () => done();
    const closed = () => done(new SkyplaneError("CONNECTION_CLOSED", "connection closed"));
    socket.once("drain", ok);
    socket.once("close", closed);
  });
}
