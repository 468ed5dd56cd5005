import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import vectors from "../../gateway-image/wire-vectors.json";
import {
  readFramePayload,
  readFrameStart,
  parseMeta,
  encodeFrame,
} from "../../gateway-image/codec";
import {
  AckStatus,
  decodeAck,
  decodeHeader,
  encodeAck,
  encodeAuth,
  encodeHeader,
  FLAG_ENCRYPTED,
  verifyAuth,
  WireError,
} from "../../gateway-image/wire";
import { crc32 } from "../../stores/checksum";

/** Decodes a whole frame held in memory. */
async function decode(
  frame: Buffer,
  key?: Buffer,
): Promise<{ raw: Buffer; meta: unknown; flags: number }> {
  let at = 0;
  const read = async (n: number) => {
    if (at + n > frame.length) throw new Error("short frame");
    const b = frame.subarray(at, at + n);
    at += n;
    return b;
  };
  const start = await readFrameStart(read);
  const raw = await readFramePayload(
    start,
    async (n, onPiece) => {
      // Deliver in odd-sized pieces, as a socket would.
      const end = at + n;
      while (at < end) {
        const take = Math.min(7, end - at);
        onPiece(frame.subarray(at, at + take));
        at += take;
      }
    },
    key,
  );
  assert.equal(at, frame.length, "the whole frame is consumed");
  return { raw: Buffer.concat(raw), meta: parseMeta(start), flags: start.header.flags };
}

describe("gateway-image/wire", () => {
  const key = Buffer.from(vectors.key, "hex");

  for (const name of ["plain", "encrypted"] as const) {
    it(`decodes the ${name} test vector`, async () => {
      const frame = Buffer.from(vectors.frames[name], "hex");
      const got = await decode(frame, key);
      assert.equal(got.raw.toString(), vectors.raw);
      assert.deepEqual(got.meta, vectors.meta);
      assert.equal(got.flags, name === "encrypted" ? FLAG_ENCRYPTED : 0);
      const h = decodeHeader(frame);
      assert.equal(h.rawCrc.toString(16).padStart(8, "0"), vectors.rawCrc32);
      assert.equal(h.rawCrc, crc32(Buffer.from(vectors.raw)));
    });
  }

  it("encodes the header of the test vectors byte for byte", () => {
    const meta = Buffer.from(JSON.stringify(vectors.meta));
    const frame = Buffer.from(vectors.frames.encrypted, "hex");
    const header = encodeHeader(
      {
        flags: FLAG_ENCRYPTED,
        chunkId: vectors.meta.id,
        payloadLength: 11 + 16,
        rawLength: 11,
        rawCrc: parseInt(vectors.rawCrc32, 16),
        iv: Buffer.from(vectors.iv, "hex"),
      },
      meta,
    );
    assert.equal(header.toString("hex"), frame.subarray(0, 64).toString("hex"));
    assert.equal(encodeAck(AckStatus.Ok, vectors.meta.id).toString("hex"), vectors.ackOk);
    const auth = encodeAuth(vectors.auth.token, Buffer.from(vectors.auth.nonce, "hex"));
    assert.equal(auth.toString("hex"), vectors.auth.message);
  });

  it("round-trips a compressible chunk with zstd and encryption, and skips zstd when it does not pay", async () => {
    const req = { ...vectors.meta, length: 300_000, objectSize: 300_000 };
    for (const [raw, compressed] of [
      [Buffer.alloc(300_000, "a"), true],
      [randomBytes(300_000), false],
    ] as const) {
      const f = await encodeFrame(req, [raw.subarray(0, 1000), raw.subarray(1000)], crc32(raw), {
        compress: "zstd",
        key,
      });
      const frame = Buffer.concat([f.head, ...f.payload]);
      assert.equal((decodeHeader(frame).flags & 2) !== 0, compressed);
      if (compressed) assert.ok(frame.length < 10_000, `compressed frame of ${frame.length} bytes`);
      assert.ok((await decode(frame, key)).raw.equals(raw));
    }
  });

  describe("corruption", () => {
    const frame = () => Buffer.from(vectors.frames.encrypted, "hex");
    const plain = () => Buffer.from(vectors.frames.plain, "hex");

    it("rejects a flipped payload bit (authentication) and a flipped plain payload bit (CRC)", async () => {
      const f = frame();
      f[f.length - 20] ^= 1;
      await assert.rejects(decode(f, key), /failed authentication/);
      const p = plain();
      p[p.length - 1] ^= 1;
      await assert.rejects(decode(p, key), /checksum mismatch/);
    });

    it("rejects tampered metadata and a header that lies", async () => {
      const f = frame();
      f[70] ^= 1; // inside the metadata
      await assert.rejects(decode(f, key), /header checksum mismatch/);
      const g = frame();
      g[0] = 0x58;
      await assert.rejects(
        decode(g, key),
        (e: Error) => e instanceof WireError && /bad frame magic/.test(e.message),
      );
      const h = frame();
      h.writeUInt32BE(1 << 30, 24); // metadata length beyond the limit
      await assert.rejects(decode(h, key), /too large/);
    });

    it("rejects an encrypted frame with the wrong key", async () => {
      await assert.rejects(decode(frame(), Buffer.alloc(32, 0x22)), /failed authentication/);
      await assert.rejects(decode(frame(), undefined), /no key/);
    });

    it("checks acks and auth", () => {
      const ack = encodeAck(AckStatus.Failed, vectors.meta.id, "disk full");
      assert.deepEqual(decodeAck(ack), {
        status: AckStatus.Failed,
        chunkId: vectors.meta.id,
        messageLength: 9,
      });
      ack[4] = AckStatus.Ok;
      assert.throws(() => decodeAck(ack), /bad ack checksum/);
      const nonce = Buffer.from(vectors.auth.nonce, "hex");
      const auth = Buffer.from(vectors.auth.message, "hex");
      assert.equal(verifyAuth(auth, "token", nonce), true);
      assert.equal(verifyAuth(auth, "other", nonce), false);
      assert.equal(verifyAuth(auth, "token", Buffer.alloc(16)), false);
      assert.equal(verifyAuth(auth.subarray(0, 39), "token", nonce), false);
    });
  });
});
