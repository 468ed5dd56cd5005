import * as crypto from "node:crypto";
import * as net from "node:net";
import type { ChunkRequest } from "../../planner/program";
import { parseBatchMeta, parseMeta, readFramePayload, readFrameStart, splitBatch } from "../codec";
import {
  AckStatus,
  ackTag,
  AUTH_BYTES,
  ChunkOutcome,
  connectionKeys,
  encodeAck,
  encodeHello,
  failureMessage,
  FLAG_BATCH,
  FLAG_ENCRYPTED,
  FLAG_ZSTD,
  okMessage,
  resultsMessage,
  Stored,
  verifyAuth,
  WireError,
} from "../wire";
import { BufferPool, ByteBudget } from "./memory";
import { SocketReader } from "./socket-reader";

/** Chunks at least this large are gathered into a pooled buffer (DataServerOptions.pool). */
const GATHER_BYTES = 1 << 20;

/**
 * What the receiver hands each verified chunk to; resolves once the chunk is written or forwarded, to
 * what the destination stores reported they hold (carried back in the ack), if anything.
 */
export type ChunkHandler = (
  req: ChunkRequest,
  raw: Buffer[],
  rawCrc: number,
) => Promise<Stored | undefined | void>;

/** Options of a data server. */
export interface DataServerOptions {
  /** The dataplane token that senders must prove they hold. */
  readonly token: string;
  /** The dataplane key for encrypted frames. */
  readonly key?: Buffer;
  /** Refuse frames that are not encrypted (the program's senders encrypt): the connection is dropped. */
  readonly requireEncryption?: boolean;
  /** Milliseconds a connection may take to authenticate before it is closed; default 5000. */
  readonly handshakeMs?: number;
  /** Connections not yet authenticated from one address at once; more are closed at once. Default 64. */
  readonly maxPreAuthPerPeer?: number;
  /** Connections not yet authenticated at once, over all addresses. Default 512. */
  readonly maxPreAuth?: number;
  /** Gets every verified chunk. */
  readonly handler: ChunkHandler;
  /** Chunks of one connection handed on at once while the next frames are read; default 32. */
  readonly pipeline?: number;
  /** Bytes of one connection's chunks handed on at once; default 128 MiB (one larger chunk still goes). */
  readonly pipelineBytes?: number;
  /** Bounds the bytes of received chunks held at once, over all connections. */
  readonly budget?: ByteBudget;
  /**
   * Lends the buffers that large chunks (1 MiB or more, one to a frame, without zstd) are gathered
   * into as they are deciphered; each goes back once the handler is done with its chunk.
   */
  readonly pool?: BufferPool;
  /** Called for each frame rejected as corrupt and each connection dropped. */
  readonly onProblem?: (what: string) => void;
  /** Called for each frame verified, with the number of chunks it holds. */
  readonly onFrame?: (chunks: number) => void;
}

/**
 * The receiving end of `send`: authenticates each connection, then reads frames, verifies them and
 * acks each one after the handler is done with its chunk (or with every chunk of a batch). A corrupt
 * frame is acked "rejected" and none of its chunks is handed on; a frame whose header cannot be
 * trusted drops the connection (the sender resends what was unacked).
 */
export class DataServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Connections not yet authenticated, per remote address. */
  private readonly preAuth = new Map<string, number>();
  private preAuthTotal = 0;

  constructor(private readonly opts: DataServerOptions) {
    this.server = net.createServer((socket) => void this.serve(socket));
  }

  /** Starts listening; resolves to the bound port. */
  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve());
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Stops accepting and drops every connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Counts `socket` as not yet authenticated, or closes it when its address or the server is at the
   * cap; returns the function that uncounts it (once), or undefined when it was closed.
   */
  private admit(socket: net.Socket, peer: string): (() => void) | undefined {
    const mine = this.preAuth.get(peer) ?? 0;
    if (
      mine >= (this.opts.maxPreAuthPerPeer ?? 64) ||
      this.preAuthTotal >= (this.opts.maxPreAuth ?? 512)
    ) {
      this.opts.onProblem?.(
        `refused a data connection from ${peer}: too many connections still authenticating`,
      );
      socket.destroy();
      return undefined;
    }
    this.preAuth.set(peer, mine + 1);
    this.preAuthTotal++;
    let counted = true;
    return () => {
      if (!counted) return;
      counted = false;
      this.preAuthTotal--;
      const left = (this.preAuth.get(peer) ?? 1) - 1;
      if (left > 0) this.preAuth.set(peer, left);
      else this.preAuth.delete(peer);
    };
  }

  private async serve(socket: net.Socket): Promise<void> {
    const peer = socket.remoteAddress ?? "unknown";
    const authenticated = this.admit(socket, peer);
    if (!authenticated) return;
    this.sockets.add(socket);
    socket.on("close", () => {
      this.sockets.delete(socket);
      authenticated();
    });
    socket.setNoDelay(true);
    const reader = new SocketReader(socket);
    const pending = new Set<Promise<void>>();
    let pendingBytes = 0;
    const handshakeMs = this.opts.handshakeMs ?? 5000;
    const deadline = setTimeout(() => {
      this.opts.onProblem?.(
        `closed a data connection from ${peer}: it did not authenticate within ${handshakeMs} ms`,
      );
      socket.destroy();
    }, handshakeMs);
    try {
      const serverNonce = crypto.randomBytes(16);
      socket.write(encodeHello(serverNonce));
      const auth = await reader.read(AUTH_BYTES);
      const clientNonce = verifyAuth(auth, this.opts.token, serverNonce);
      if (!clientNonce) {
        this.opts.onProblem?.(`refused a data connection from ${peer}: bad token`);
        socket.destroy();
        return;
      }
      clearTimeout(deadline);
      authenticated();
      const keys = connectionKeys(this.opts.token, this.opts.key, serverNonce, clientNonce);
      let frameSeq = 0;
      let ackSeq = 0;
      // Acks are numbered in the order they are written, which is the order their tags are made.
      const ack = (status: AckStatus, chunkId: string, message?: string) => {
        if (socket.destroyed) return;
        const head = encodeAck(status, chunkId, message);
        socket.write(Buffer.concat([head, ackTag(keys.acks, ackSeq++, head)]));
      };
      while (await reader.more()) {
        const start = await readFrameStart((n) => reader.read(n), frameSeq++);
        if (this.opts.requireEncryption && !(start.header.flags & FLAG_ENCRYPTED)) {
          throw new WireError(
            `frame ${start.header.chunkId} is not encrypted, but this dataplane encrypts`,
          );
        }
        // Hold back reading the payload until it fits in the gateway's budget: TCP slows the sender.
        const held = Math.max(start.header.rawLength, start.header.payloadLength);
        await this.opts.budget?.acquire(held);
        const batch = (start.header.flags & FLAG_BATCH) !== 0;
        const lease =
          !batch && !(start.header.flags & FLAG_ZSTD) && start.header.rawLength >= GATHER_BYTES
            ? this.opts.pool?.acquire(start.header.rawLength)
            : undefined;
        const release = () => {
          lease?.release();
          this.opts.budget?.release(held);
        };
        let chunks: Array<{ req: ChunkRequest; raw: Buffer[]; crc: number }> | undefined;
        let problem: string | undefined;
        try {
          if (batch) {
            // The whole metadata is checked before the payload is read; every chunk before any is handed on.
            const meta = parseBatchMeta(start);
            const body = await readFramePayload(start, (n, f) => reader.stream(n, f), keys);
            const raws = splitBatch(body, meta);
            chunks = meta.chunks.map((req, i) => ({ req, raw: raws[i], crc: meta.crcs[i] }));
          } else {
            const req = parseMeta(start);
            const raw = await readFramePayload(
              start,
              (n, f) => reader.stream(n, f),
              keys,
              lease?.data,
            );
            chunks = [{ req, raw, crc: start.header.rawCrc }];
          }
        } catch (err) {
          if (!(err instanceof WireError)) {
            release();
            throw err;
          }
          problem = err.message;
        }
        if (problem !== undefined || !chunks) {
          release();
          this.opts.onProblem?.(`rejected chunk ${start.header.chunkId}: ${problem}`);
          ack(AckStatus.Rejected, start.header.chunkId, failureMessage(problem ?? "corrupt"));
          continue;
        }
        this.opts.onFrame?.(chunks.length);
        const id = start.header.chunkId;
        const size = start.header.rawLength;
        pendingBytes += size;
        const outcomes = chunks.map((c) =>
          this.opts.handler(c.req, c.raw, c.crc).then(
            (stored): ChunkOutcome => (stored ? { ok: true, stored } : { ok: true }),
            (err: Error): ChunkOutcome => ({ ok: false, error: err.message }),
          ),
        );
        const work = Promise.all(outcomes)
          .then((results) => {
            if (batch) return ack(AckStatus.Results, id, resultsMessage(results));
            const [one] = results;
            if (one.ok) ack(AckStatus.Ok, id, okMessage(one.stored));
            else ack(AckStatus.Failed, id, failureMessage(one.error));
          })
          .catch((err: Error) => {
            // An ack that cannot be made ends the connection: the sender resends what was not acked.
            this.opts.onProblem?.(`dropped a data connection from ${peer}: ${err.message}`);
            socket.destroy();
          });
        pending.add(work);
        void work.finally(() => {
          pending.delete(work);
          pendingBytes -= size;
          // Every handler is done with the chunk: its buffer can be lent again.
          release();
        });
        // Small chunks overlap many at a time; large ones a couple, which bounds memory.
        while (
          pending.size >= (this.opts.pipeline ?? 32) ||
          (pending.size > 0 && pendingBytes >= (this.opts.pipelineBytes ?? 128 * 1024 * 1024))
        ) {
          await Promise.race(pending);
        }
      }
      await Promise.all(pending);
      socket.end();
    } catch (err) {
      this.opts.onProblem?.(`dropped a data connection from ${peer}: ${(err as Error).message}`);
      socket.destroy();
    } finally {
      clearTimeout(deadline);
    }
  }
}
