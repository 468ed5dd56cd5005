import * as net from "node:net";
import type { ChunkRequest, GatewayAddress } from "../../planner/program";
import * as crypto from "node:crypto";
import { EncodeOptions, encodeFrame } from "../codec";
import {
  ACK_BYTES,
  AckStatus,
  connectionKeys,
  ConnectionKeys,
  decodeAck,
  decodeHello,
  encodeAuth,
  HELLO_BYTES,
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
}

interface Job {
  readonly req: ChunkRequest;
  readonly raw: Buffer[];
  readonly size: number;
  readonly rawCrc: number;
  attempts: number;
  readonly resolve: () => void;
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

/**
 * Sends chunks to one gateway over several connections. Each chunk resolves when the receiver acks it
 * (written or forwarded); a rejected frame or a lost connection sends it again, up to `maxAttempts`.
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

  /** Sends a chunk; resolves once the receiver has acked it. */
  send(req: ChunkRequest, raw: Buffer[], rawCrc: number): Promise<void> {
    if (this.closed)
      return Promise.reject(new SkyplaneError("SEND_POOL_CLOSED", "send pool is closed"));
    const size = raw.reduce((n, p) => n + p.length, 0);
    return new Promise((resolve, reject) => {
      this.queue.push({ req, raw, size, rawCrc, attempts: 0, resolve, reject });
      this.wakeAll();
    });
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
    const inflight = new Map<string, Job>();
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
        const job = inflight.get(ack.chunkId);
        if (!job) continue;
        inflight.delete(ack.chunkId);
        inflightBytes -= job.size;
        this.outstanding--;
        this.lastProgress = Date.now();
        if (ack.status === AckStatus.Ok) job.resolve();
        else if (ack.status === AckStatus.Rejected)
          this.retry(job, `rejected by the receiver: ${message}`);
        else
          job.reject(
            new SkyplaneError(
              "CHUNK_FAILED",
              `${this.describe()} could not handle chunk ${job.req.id}: ${message}`,
            ),
          );
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
        const job = room ? this.queue.shift() : undefined;
        if (!job) {
          await ackOrWork();
          continue;
        }
        inflight.set(job.req.id, job);
        inflightBytes += job.size;
        this.outstanding++;
        const frame = await encodeFrame(
          job.req,
          job.raw,
          job.rawCrc,
          {
            compress: this.opts.compress,
            encrypt: this.opts.encrypt ?? this.opts.key !== undefined,
          },
          keys,
          frameSeq++,
        );
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
      for (const job of inflight.values()) {
        this.outstanding--;
        this.retry(job, `connection lost: ${broken?.message ?? "closed"}`);
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
