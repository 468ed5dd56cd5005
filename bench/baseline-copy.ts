import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import { pipeline } from "node:stream/promises";

/*
 * The baseline of bench/relay: the least a Node program must do to move a file between two folders over
 * one TCP connection with the cipher skyplane uses: read → AES-256-GCM → socket → decipher → write,
 * all streams, no chunking, no framing, no checks beyond the GCM tag.
 *
 *   node baseline-copy.js receive OUT_FILE KEY_HEX|-     prints the port, exits when the file is written
 *   node baseline-copy.js send PORT IN_FILE KEY_HEX|-
 */

const IV = Buffer.alloc(12, 7); // one stream, one key per run: a fixed IV is acceptable for a benchmark only

async function receive(out: string, keyHex: string): Promise<void> {
  const server = net.createServer(async (socket) => {
    server.close();
    const key = keyHex === "-" ? undefined : Buffer.from(keyHex, "hex");
    const file = fs.createWriteStream(out, { highWaterMark: 1 << 20 });
    if (!key) {
      await pipeline(socket, file);
      return;
    }
    // The sender appends the 16-byte tag: hold back the last 16 bytes seen.
    const decipher = crypto.createDecipheriv("aes-256-gcm", key, IV);
    let tail = Buffer.alloc(0);
    const done = new Promise<void>((resolve, reject) => {
      file.on("finish", resolve);
      file.on("error", reject);
    });
    for await (const piece of socket as AsyncIterable<Buffer>) {
      const all = tail.length ? Buffer.concat([tail, piece]) : piece;
      tail = Buffer.from(all.subarray(all.length - 16));
      const body = all.subarray(0, all.length - 16);
      if (body.length && !file.write(decipher.update(body)))
        await new Promise<void>((r) => file.once("drain", () => r()));
    }
    decipher.setAuthTag(tail);
    file.end(decipher.final());
    await done;
  });
  server.listen(0, "127.0.0.1", () =>
    process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`),
  );
}

async function send(port: number, input: string, keyHex: string): Promise<void> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((r) => socket.once("connect", r));
  const file = fs.createReadStream(input, { highWaterMark: 1 << 20 });
  if (keyHex === "-") {
    await pipeline(file, socket);
    return;
  }
  const cipher = crypto.createCipheriv("aes-256-gcm", Buffer.from(keyHex, "hex"), IV);
  await pipeline(
    file,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const piece of source) yield cipher.update(piece);
      yield Buffer.concat([cipher.final(), cipher.getAuthTag()]);
    },
    socket,
  );
}

const [role, a, b, c] = process.argv.slice(2);
(role === "receive" ? receive(a, b) : send(Number(a), b, c)).catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
