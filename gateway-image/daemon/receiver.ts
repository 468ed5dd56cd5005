import * as crypto from "node:crypto";
import * as net from "node:net";
import type { ChunkRequest } from "../../planner/program";
import { parseMeta, readFramePayload, readFrameStart } from "../codec";
import { AckStatus, AUTH_BYTES, encodeAck, encodeHello, verifyAuth, WireError } from "../wire";
import { ByteBudget } from "./memory";
import { SocketReader } from "./socket-reader";

/** What the receiver hands each verified chunk to; resolves once the chunk is written or forwarded. */
export type ChunkHandler = (req: ChunkRequest, raw: Buffer[], rawCrc: number) => Promise<void>;

/** Options of a data server. */
export interface DataServerOptions {
  /** The dataplane token that senders must prove they hold. */
  readonly token: string;
  /** The dataplane key for encrypted frames. */
  readonly key?: Buffer;
  /** Gets every verified chunk. */
  readonly handler: ChunkHandler;
  /** Chunks of one connection handed on at once while the next frames are read; default 32. */
  readonly pipeline?: number;
  /** Bytes of one connection's chunks handed on at once; default 128 MiB (one larger chunk still goes). */
  readonly pipelineBytes?: number;
  /** Bounds the bytes of received chunks held at once, over all connections. */
  readonly budget?: ByteBudget;
  /** Called for each frame rejected as corrupt and each connection dropped. */
  readonly onProblem?: (what: string) => void;
}

/**
 * The receiving end of `send`: authenticates each connection, then reads frames, verifies them and
 * acks each one after the handler is done. A corrupt frame is acked "rejected" and never handed on; a
 * frame whose header cannot be trusted drops the connection (the sender resends what was unacked).
 */
export class DataServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

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

  private async serve(socket: net.Socket): Promise<void> {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    const reader = new SocketReader(socket);
    const pending = new Set<Promise<void>>();
    let pendingBytes = 0;
    try {
      const nonce = crypto.randomBytes(16);
      socket.write(encodeHello(nonce));
      const auth = await reader.read(AUTH_BYTES);
      if (!verifyAuth(auth, this.opts.token, nonce)) {
        this.opts.onProblem?.(`refused a data connection from ${socket.remoteAddress}: bad token`);
        socket.destroy();
        return;
      }
      while (await reader.more()) {
        const start = await readFrameStart((n) => reader.read(n));
        // Hold back reading the payload until it fits in the gateway's budget: TCP slows the sender.
        const held = Math.max(start.header.rawLength, start.header.payloadLength);
        await this.opts.budget?.acquire(held);
        let req: ChunkRequest | undefined;
        let raw: Buffer[] | undefined;
        let problem: string | undefined;
        try {
          req = parseMeta(start);
          raw = await readFramePayload(start, (n, f) => reader.stream(n, f), this.opts.key);
        } catch (err) {
          if (!(err instanceof WireError)) {
            this.opts.budget?.release(held);
            throw err;
          }
          problem = err.message;
        }
        if (problem !== undefined || !req || !raw) {
          this.opts.budget?.release(held);
          this.opts.onProblem?.(`rejected chunk ${start.header.chunkId}: ${problem}`);
          socket.write(encodeAck(AckStatus.Rejected, start.header.chunkId, problem));
          continue;
        }
        const chunk = req;
        const size = start.header.rawLength;
        pendingBytes += size;
        const work = this.opts.handler(chunk, raw, start.header.rawCrc).then(
          () => void (socket.destroyed || socket.write(encodeAck(AckStatus.Ok, chunk.id))),
          (err: Error) =>
            void (
              socket.destroyed || socket.write(encodeAck(AckStatus.Failed, chunk.id, err.message))
            ),
        );
        pending.add(work);
        void work.finally(() => {
          pending.delete(work);
          pendingBytes -= size;
          this.opts.budget?.release(held);
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
      this.opts.onProblem?.(`dropped a data connection: ${(err as Error).message}`);
      socket.destroy();
    }
  }
}
