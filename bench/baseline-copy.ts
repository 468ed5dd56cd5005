import * as crypto from "node:crypto";
import { once } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import * as readline from "node:readline";

/*
 * The baselines of bench/relay: the least a Node program must do to move bytes between two processes over
 * `connections` TCP connections with the cipher skyplane uses (AES-256-GCM), or none:
 *
 *   file:    file range → cipher → socket → decipher → positional write into the output file
 *   memory:  a buffer in memory → cipher → socket → decipher → dropped (no files at all)
 *
 * Each connection carries one contiguous range per round: a 16-byte header (offset, length), the body,
 * and the 16-byte GCM tag when encrypted. Nothing is copied on the way but by the cipher itself. Both
 * processes start, connect and open their files before a round is timed; the parent times a round from
 * its `go` to the receiver's `done`.
 *
 *   node baseline-copy.js receive CONNECTIONS     prints "port N"; then per stdin line "round OUT|-"
 *                                                 (a file, or - for memory) prints "ready", and "done"
 *                                                 once every connection has delivered its range
 *   node baseline-copy.js send PORT CONNECTIONS   prints "connected"; then per stdin line "go IN|- BYTES"
 *                                                 sends and prints "sent"
 *
 * SKYPLANE_BASELINE_KEY (hex, 32 bytes) turns the cipher on; it is never on a command line.
 */

const HEADER = 16;
const TAG = 16;
/** What one cipher call and one socket write take: as the file stream reads. */
const PIECE = 1 << 20;

function key(): Buffer | undefined {
  const hex = process.env.SKYPLANE_BASELINE_KEY;
  return hex ? Buffer.from(hex, "hex") : undefined;
}

/** A fresh IV for each (round, connection): the key is the run's own, the IVs never repeat under it. */
export function iv(round: number, connection: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(connection, 0);
  b.writeBigUInt64BE(BigInt(round), 4);
  return b;
}

/** The byte range connection `c` of `n` carries of `bytes`. */
export function range(bytes: number, c: number, n: number): { offset: number; length: number } {
  const share = Math.ceil(bytes / n);
  const offset = Math.min(bytes, c * share);
  return { offset, length: Math.min(share, bytes - offset) };
}

function say(line: string): void {
  process.stdout.write(line + "\n");
}

/** The header of a range: its offset and length, 8 bytes each. */
export function header(r: { offset: number; length: number }): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeBigUInt64BE(BigInt(r.offset), 0);
  h.writeBigUInt64BE(BigInt(r.length), 8);
  return h;
}

/** Where a receiver puts what it deciphered: `data` at `position` of the output. */
export type Sink = (data: Buffer, position: number) => Promise<unknown> | void;

/**
 * One receiving connection: header, body, tag; then the next round's header. `sink` takes the body
 * (undefined: dropped), `delivered` is called once a range is whole (and its tag checked).
 */
export class Receiving {
  private head: Buffer = Buffer.alloc(0);
  private tag: Buffer = Buffer.alloc(0);
  private remaining = -1;
  private at = 0;
  private decipher?: crypto.DecipherGCM;
  private round = 0;

  constructor(
    private readonly index: number,
    private readonly k: Buffer | undefined,
    private readonly sink: () => Sink | undefined,
    private readonly delivered: () => void,
  ) {}

  async take(piece: Buffer): Promise<void> {
    while (piece.length > 0) {
      if (this.remaining < 0) {
        // The header: 16 bytes, rarely split over two reads.
        const need = HEADER - this.head.length;
        this.head = Buffer.concat([this.head, piece.subarray(0, need)]);
        piece = piece.subarray(need);
        if (this.head.length < HEADER) return;
        this.at = Number(this.head.readBigUInt64BE(0));
        this.remaining = Number(this.head.readBigUInt64BE(8));
        this.head = Buffer.alloc(0);
        this.decipher = this.k
          ? crypto.createDecipheriv("aes-256-gcm", this.k, iv(this.round, this.index))
          : undefined;
        if (this.remaining === 0 && !this.k) this.finish();
        continue;
      }
      if (this.remaining > 0) {
        const body = piece.subarray(0, this.remaining);
        piece = piece.subarray(body.length);
        this.remaining -= body.length;
        const plain = this.decipher ? this.decipher.update(body) : body;
        await this.sink()?.(plain, this.at);
        this.at += plain.length;
        if (this.remaining === 0 && !this.k) this.finish();
        if (this.remaining > 0 || !this.k) continue;
      }
      // The tag (encrypted only).
      const need = TAG - this.tag.length;
      this.tag = Buffer.concat([this.tag, piece.subarray(0, need)]);
      piece = piece.subarray(need);
      if (this.tag.length < TAG) return;
      const d = this.decipher as crypto.DecipherGCM;
      d.setAuthTag(this.tag);
      d.final(); // throws if a byte was changed
      this.tag = Buffer.alloc(0);
      this.finish();
    }
  }

  private finish(): void {
    this.remaining = -1;
    this.round++;
    this.delivered();
  }
}

async function receive(connections: number): Promise<void> {
  const k = key();
  let out: fs.promises.FileHandle | undefined;
  let pending = 0;
  const delivered = async () => {
    if (--pending > 0) return;
    await out?.close();
    out = undefined;
    say("done");
  };
  let accepted = 0;
  const server = net.createServer((socket) => {
    const sink: Sink = (data, at) => out?.write(data, 0, data.length, at);
    const r = new Receiving(
      accepted++,
      k,
      () => (out ? sink : undefined),
      () => void delivered(),
    );
    if (accepted === connections) server.close();
    void (async () => {
      for await (const piece of socket as AsyncIterable<Buffer>) await r.take(piece);
    })().catch((err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    });
  });
  server.listen(0, "127.0.0.1", () => say(`port ${(server.address() as net.AddressInfo).port}`));
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [verb, file] = line.split(" ");
    if (verb !== "round") continue;
    pending = connections;
    out = file === "-" ? undefined : await fs.promises.open(file, "w", 0o600);
    say("ready");
  }
  process.exit(0);
}

/** Writes `data` to `socket`, waiting while its buffer is full. */
async function write(socket: net.Socket, data: Buffer): Promise<void> {
  if (!socket.write(data)) await once(socket, "drain");
}

async function sendRange(
  socket: net.Socket,
  source: { file?: fs.promises.FileHandle; block: Buffer },
  r: { offset: number; length: number },
  cipher: crypto.CipherGCM | undefined,
): Promise<void> {
  await write(socket, header(r));
  // Encrypted, one read buffer serves every piece (the cipher's output is what the socket keeps);
  // plain, each read gets a buffer of its own, which the socket holds until it is sent.
  const reused = cipher && source.file ? Buffer.allocUnsafe(PIECE) : undefined;
  for (let done = 0; done < r.length;) {
    const n = Math.min(PIECE, r.length - done);
    let piece: Buffer;
    if (source.file) {
      const { bytesRead, buffer } = await source.file.read(
        reused ?? Buffer.allocUnsafe(n),
        0,
        n,
        r.offset + done,
      );
      piece = buffer.subarray(0, bytesRead);
      if (bytesRead === 0) throw new Error("the input is shorter than its size");
    } else {
      const at = (r.offset + done) % (source.block.length - PIECE);
      piece = source.block.subarray(at, at + n);
    }
    await write(socket, cipher ? cipher.update(piece) : piece);
    done += piece.length;
  }
  if (cipher) {
    cipher.final();
    await write(socket, cipher.getAuthTag());
  }
}

async function send(port: number, connections: number): Promise<void> {
  const k = key();
  const sockets = await Promise.all(
    Array.from({ length: connections }, async () => {
      const s = net.connect(port, "127.0.0.1");
      await once(s, "connect");
      s.setNoDelay(true);
      return s;
    }),
  );
  say("connected");
  const block = crypto.randomBytes(64 * PIECE); // the memory baseline's source: incompressible
  let round = 0;
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [verb, input, size] = line.split(" ");
    if (verb !== "go") continue;
    const bytes = Number(size);
    const file = input === "-" ? undefined : await fs.promises.open(input, "r");
    await Promise.all(
      sockets.map((s, c) =>
        sendRange(
          s,
          { file, block },
          range(bytes, c, connections),
          k ? crypto.createCipheriv("aes-256-gcm", k, iv(round, c)) : undefined,
        ),
      ),
    );
    await file?.close();
    round++;
    say("sent");
  }
  for (const s of sockets) s.end();
}

if (require.main === module) {
  const [role, a, b] = process.argv.slice(2);
  (role === "receive" ? receive(Number(a)) : send(Number(a), Number(b))).catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
