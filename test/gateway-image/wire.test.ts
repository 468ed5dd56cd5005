import * as assert from "node:assert/strict";
import { createHmac, hkdfSync, randomBytes } from "node:crypto";
import vectors from "../../gateway-image/wire-vectors.json";
import {
  readFramePayload,
  readFrameStart,
  parseBatchMeta,
  parseMeta,
  encodeBatchFrame,
  encodeFrame,
  splitBatch,
} from "../../gateway-image/codec";
import {
  AckStatus,
  ACK_BYTES,
  ackTag,
  connectionKeys,
  ConnectionKeys,
  decodeAck,
  decodeHeader,
  decodeOkMessage,
  decodeResultsMessage,
  encodeAck,
  encodeAuth,
  encodeHeader,
  FLAG_BATCH,
  FLAG_ENCRYPTED,
  MAX_BATCH_CHUNKS,
  okMessage,
  resultsMessage,
  verifyAckTag,
  verifyAuth,
  WireError,
} from "../../gateway-image/wire";
import { crc32 } from "../../stores/checksum";

/** Decodes a whole frame held in memory, the `seq`-th of a connection with `keys`. */
async function decode(
  frame: Buffer,
  keys: ConnectionKeys,
  seq: number,
  into?: Buffer,
): Promise<{ raw: Buffer; pieces: Buffer[]; meta: unknown; flags: number }> {
  let at = 0;
  const read = async (n: number) => {
    if (at + n > frame.length) throw new Error("short frame");
    const b = frame.subarray(at, at + n);
    at += n;
    return b;
  };
  const start = await readFrameStart(read, seq);
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
    keys,
    into,
  );
  assert.equal(at, frame.length, "the whole frame is consumed");
  return {
    raw: Buffer.concat(raw),
    pieces: raw,
    meta: parseMeta(start),
    flags: start.header.flags,
  };
}

/** Decodes a whole batch frame held in memory: its chunks and each one's raw bytes. */
async function decodeBatch(
  frame: Buffer,
  keys: ConnectionKeys,
  seq: number,
): Promise<{ chunks: unknown[]; raws: string[]; flags: number }> {
  let at = 0;
  const start = await readFrameStart(async (n) => frame.subarray(at, (at += n)), seq);
  const meta = parseBatchMeta(start);
  const body = await readFramePayload(
    start,
    async (n, onPiece) => {
      const end = at + n;
      while (at < end) {
        const take = Math.min(3, end - at);
        onPiece(frame.subarray(at, at + take));
        at += take;
      }
    },
    keys,
  );
  assert.equal(at, frame.length, "the whole frame is consumed");
  const raws = splitBatch(body, meta).map((parts) => Buffer.concat(parts).toString());
  return { chunks: meta.chunks, raws, flags: start.header.flags };
}

describe("gateway-image/wire", () => {
  const key = Buffer.from(vectors.key, "hex");
  const serverNonce = Buffer.from(vectors.serverNonce, "hex");
  const clientNonce = Buffer.from(vectors.clientNonce, "hex");
  const keys = connectionKeys(vectors.token, key, serverNonce, clientNonce);
  const seqOf = { plain: 0, encrypted: 1 } as const;

  it("derives the connection keys of the test vectors with HKDF-SHA256 over both nonces", () => {
    const salt = Buffer.concat([serverNonce, clientNonce]);
    const hkdf = (secret: Buffer | string, info: string) =>
      Buffer.from(hkdfSync("sha256", secret, salt, `skyplane-data-v2 ${info}`, 32)).toString("hex");
    assert.deepEqual(vectors.connectionKeys, {
      frames: hkdf(vectors.token, "frames"),
      cipher: hkdf(key, "encrypt"),
      acks: hkdf(vectors.token, "acks"),
    });
    assert.equal(keys.frames.toString("hex"), vectors.connectionKeys.frames);
    assert.equal(keys.cipher?.toString("hex"), vectors.connectionKeys.cipher);
    assert.equal(keys.acks.toString("hex"), vectors.connectionKeys.acks);
    const other = connectionKeys(vectors.token, key, serverNonce, Buffer.alloc(16));
    assert.notEqual(other.frames.toString("hex"), vectors.connectionKeys.frames);
  });

  for (const name of ["plain", "encrypted"] as const) {
    it(`decodes the ${name} test vector`, async () => {
      const frame = Buffer.from(vectors.frames[name], "hex");
      const got = await decode(frame, keys, seqOf[name]);
      assert.equal(got.raw.toString(), vectors.raw);
      assert.deepEqual(got.meta, vectors.meta);
      assert.equal(got.flags, name === "encrypted" ? FLAG_ENCRYPTED : 0);
      const h = decodeHeader(frame);
      assert.equal(h.seq, seqOf[name]);
      assert.equal(h.rawCrc.toString(16).padStart(8, "0"), vectors.rawCrc32);
      assert.equal(h.rawCrc, crc32(Buffer.from(vectors.raw)));
    });

    it(`refuses the ${name} test vector out of sequence or on another connection`, async () => {
      const frame = Buffer.from(vectors.frames[name], "hex");
      await assert.rejects(decode(frame, keys, seqOf[name] + 1), /replayed, reordered or injected/);
      const other = connectionKeys(vectors.token, key, serverNonce, Buffer.alloc(16));
      await assert.rejects(decode(frame, other, seqOf[name]), /failed authentication/);
    });
  }

  it("encodes the header, ack and auth of the test vectors byte for byte", () => {
    const meta = Buffer.from(JSON.stringify(vectors.meta));
    const frame = Buffer.from(vectors.frames.encrypted, "hex");
    const header = encodeHeader(
      {
        flags: FLAG_ENCRYPTED,
        chunkId: vectors.meta.id,
        payloadLength: 11 + 16,
        rawLength: 11,
        rawCrc: parseInt(vectors.rawCrc32, 16),
        seq: 1,
      },
      meta,
    );
    assert.equal(header.toString("hex"), frame.subarray(0, 64).toString("hex"));
    const ack = encodeAck(AckStatus.Ok, vectors.meta.id);
    assert.equal(Buffer.concat([ack, ackTag(keys.acks, 0, ack)]).toString("hex"), vectors.ackOk);
    const auth = encodeAuth(vectors.token, serverNonce, clientNonce);
    assert.equal(auth.toString("hex"), vectors.auth);
    const proof = createHmac("sha256", vectors.token)
      .update("skyplane-data-v2")
      .update(serverNonce)
      .update(clientNonce)
      .digest("hex");
    assert.equal(vectors.auth.slice(48), proof);
  });

  it("round-trips a compressible chunk with zstd, plain and encrypted, and skips zstd when it does not pay", async () => {
    const req = { ...vectors.meta, length: 300_000, objectSize: 300_000 };
    let seq = 0;
    for (const encrypt of [false, true]) {
      for (const [raw, compressed] of [
        [Buffer.alloc(300_000, "a"), true],
        [randomBytes(300_000), false],
      ] as const) {
        const f = await encodeFrame(
          req,
          [raw.subarray(0, 1000), raw.subarray(1000)],
          crc32(raw),
          { compress: "zstd", encrypt },
          keys,
          seq,
        );
        const frame = Buffer.concat([f.head, ...f.payload]);
        assert.equal((decodeHeader(frame).flags & 2) !== 0, compressed);
        assert.equal((decodeHeader(frame).flags & FLAG_ENCRYPTED) !== 0, encrypt);
        if (compressed)
          assert.ok(frame.length < 10_000, `compressed frame of ${frame.length} bytes`);
        assert.ok((await decode(frame, keys, seq++)).raw.equals(raw));
      }
    }
  });

  describe("corruption", () => {
    const frame = () => Buffer.from(vectors.frames.encrypted, "hex");
    const plain = () => Buffer.from(vectors.frames.plain, "hex");

    it("rejects a flipped payload bit, encrypted or plain (authentication)", async () => {
      const f = frame();
      f[f.length - 20] ^= 1;
      await assert.rejects(decode(f, keys, 1), /failed authentication/);
      const p = plain();
      p[p.length - 17] ^= 1; // the last byte of the plain body, before the tag
      await assert.rejects(decode(p, keys, 0), /failed authentication/);
    });

    it("rejects tampered metadata and a header that lies", async () => {
      const f = frame();
      f[70] ^= 1; // inside the metadata
      await assert.rejects(decode(f, keys, 1), /header checksum mismatch/);
      const g = frame();
      g[0] = 0x58;
      await assert.rejects(
        decode(g, keys, 1),
        (e: Error) => e instanceof WireError && /bad frame magic/.test(e.message),
      );
      const h = frame();
      h.writeUInt32BE(1 << 30, 24); // metadata length beyond the limit
      await assert.rejects(decode(h, keys, 1), /too large/);
    });

    it("rejects a frame whose bytes do not have the CRC-32 the sender claims, though its tag is right", async () => {
      // The receiver's CRC-32 runs piece by piece as they are decoded (7 bytes at a time here); the
      // run of sevens lets zstd shrink the body.
      const raw = Buffer.concat([randomBytes(3000), Buffer.alloc(3000, 7), randomBytes(3000)]);
      const req = { ...vectors.meta, length: raw.length, objectSize: raw.length };
      let seq = 0;
      for (const compress of ["none", "zstd"] as const) {
        for (const encrypt of [true, false]) {
          const ok = await encodeFrame(req, [raw], crc32(raw), { compress, encrypt }, keys, seq);
          const good = Buffer.concat([ok.head, ...ok.payload]);
          assert.equal((decodeHeader(good).flags & 2) !== 0, compress === "zstd");
          assert.ok((await decode(good, keys, seq)).raw.equals(raw), `${compress} ${encrypt}`);
          // Gathered into a buffer of the receiver's (without zstd): one view of it, the same bytes.
          const into = Buffer.alloc(raw.length);
          const gathered = await decode(good, keys, seq, into);
          assert.ok(gathered.raw.equals(raw));
          assert.equal(gathered.pieces.length, 1);
          assert.equal(gathered.pieces[0].buffer === into.buffer, compress === "none");
          const lie = await encodeFrame(
            req,
            [raw],
            crc32(raw) ^ 1,
            { compress, encrypt },
            keys,
            seq,
          );
          const lieFrame = Buffer.concat([lie.head, ...lie.payload]);
          for (const buffer of [undefined, Buffer.alloc(raw.length)])
            await assert.rejects(
              decode(lieFrame, keys, seq, buffer),
              /frame checksum mismatch/,
              `${compress}, ${encrypt ? "encrypted" : "plain"}, ${buffer ? "gathered" : "as pieces"}`,
            );
          // A header that declares less than the body holds: never written past the buffer, rejected.
          const short = Buffer.from(good);
          short.writeBigUInt64BE(BigInt(raw.length - 1000), 36);
          const metaEnd = 64 + short.readUInt32BE(24);
          short.writeUInt32BE(
            crc32(short.subarray(64, metaEnd), crc32(short.subarray(0, 60))) >>> 0,
            60,
          );
          const small = Buffer.alloc(raw.length - 1000);
          await assert.rejects(decode(short, keys, seq, small), WireError);
          seq++;
        }
      }
    });

    it("rejects an encrypted frame with the wrong key", async () => {
      const wrong = connectionKeys(vectors.token, Buffer.alloc(32, 0x22), serverNonce, clientNonce);
      await assert.rejects(decode(frame(), wrong, 1), /failed authentication/);
      const none = connectionKeys(vectors.token, undefined, serverNonce, clientNonce);
      await assert.rejects(decode(frame(), none, 1), /no key/);
    });

    it("checks acks and auth", () => {
      const ack = encodeAck(AckStatus.Failed, vectors.meta.id, "disk full");
      assert.deepEqual(decodeAck(ack), {
        status: AckStatus.Failed,
        chunkId: vectors.meta.id,
        messageLength: 9,
      });
      const tag = ackTag(keys.acks, 3, ack);
      assert.equal(verifyAckTag(keys.acks, 3, ack, tag), true);
      assert.equal(verifyAckTag(keys.acks, 4, ack, tag), false, "another position");
      assert.equal(verifyAckTag(keys.frames, 3, ack, tag), false, "another key");
      const lie = Buffer.from(ack);
      lie[ACK_BYTES] ^= 1; // the message
      assert.equal(verifyAckTag(keys.acks, 3, lie, tag), false);
      ack[4] = AckStatus.Ok;
      assert.throws(() => decodeAck(ack), /bad ack checksum/);
      const auth = Buffer.from(vectors.auth, "hex");
      assert.deepEqual(verifyAuth(auth, "token", serverNonce), clientNonce);
      assert.equal(verifyAuth(auth, "other", serverNonce), undefined);
      assert.equal(verifyAuth(auth, "token", Buffer.alloc(16)), undefined);
      assert.equal(verifyAuth(auth.subarray(0, 55), "token", serverNonce), undefined);
    });
  });
  describe("batch frames", () => {
    const b = vectors.batch;
    const items = (crcs: readonly number[] = b.crcs) =>
      b.chunks.map((req, i) => ({ req, raw: [Buffer.from(b.raws[i])], rawCrc: crcs[i] }));

    it("decodes the batch test vector into its chunks, and encodes it byte for byte", async () => {
      const frame = Buffer.from(b.frame, "hex");
      const got = await decodeBatch(frame, keys, b.frameSeq);
      assert.deepEqual(got.chunks, b.chunks);
      assert.deepEqual(got.raws, b.raws);
      assert.equal(got.flags, FLAG_BATCH | FLAG_ENCRYPTED);
      assert.equal(decodeHeader(frame).chunkId, b.chunks[0].id, "named by its first chunk");
      const f = await encodeBatchFrame(
        items(),
        { compress: "none", encrypt: true },
        keys,
        b.frameSeq,
      );
      assert.equal(Buffer.concat([f.head, ...f.payload]).toString("hex"), b.frame);
      b.raws.forEach((r, i) => assert.equal(crc32(Buffer.from(r)), b.crcs[i]));
    });

    it("encodes the results ack of the test vector, and reads back each chunk's outcome", () => {
      const message = resultsMessage([
        { ok: true, stored: { "local://b": { size: 6, hashes: { crc32: "ed81f9f6" } } } },
        { ok: false, error: "disk full" },
      ]);
      assert.equal(message, b.resultsMessage);
      const ack = encodeAck(AckStatus.Results, b.chunks[0].id, message);
      assert.equal(
        Buffer.concat([ack, ackTag(keys.acks, b.ackSeq, ack)]).toString("hex"),
        b.ackResults,
      );
      assert.deepEqual(decodeAck(ack).status, AckStatus.Results);
      assert.deepEqual(decodeResultsMessage(message, 2), [
        { ok: true, stored: { "local://b": { size: 6, hashes: { crc32: "ed81f9f6" } } } },
        { ok: false, error: "disk full" },
      ]);
      assert.throws(
        () => decodeResultsMessage(message, 3),
        /a batch of 3 chunks got an ack with other results/,
      );
      assert.throws(() => decodeResultsMessage("{}", 2), WireError);
      assert.throws(
        () =>
          decodeResultsMessage(
            '{"results":[{"ok":true,"stored":{"x":{"size":-1,"hashes":{}}}},{"ok":1}]}',
            2,
          ),
        /malformed/,
      );
      assert.deepEqual(
        decodeOkMessage(okMessage({ "s3://b": { size: 1, hashes: { md5: "00" } } })),
        {
          "s3://b": { size: 1, hashes: { md5: "00" } },
        },
      );
      assert.equal(
        decodeOkMessage(okMessage()),
        undefined,
        "an ok ack with nothing stored is empty",
      );
    });

    it("keeps a batch's outcomes within an ack, however long their errors", () => {
      const outcomes = Array.from({ length: MAX_BATCH_CHUNKS }, (_, i) =>
        i % 2
          ? { ok: false as const, error: "ü".repeat(5000) }
          : {
              ok: true as const,
              stored: { ["s3://" + "b".repeat(60)]: { size: 1, hashes: { md5: "f".repeat(32) } } },
            },
      );
      const message = resultsMessage(outcomes);
      assert.ok(Buffer.byteLength(message) <= 64 * 1024, `${Buffer.byteLength(message)} bytes`);
      const back = decodeResultsMessage(message, MAX_BATCH_CHUNKS);
      assert.equal(back.filter((o) => o.ok).length, MAX_BATCH_CHUNKS / 2);
      assert.ok(back.every((o) => o.ok || o.error.length <= 300));
    });

    it("round-trips many chunks compressed together, with empty ones among them", async () => {
      const raws = Array.from({ length: 100 }, (_, i) =>
        Buffer.from("row ".repeat(i % 7 === 0 ? 0 : i)),
      );
      const list = raws.map((raw, i) => ({
        req: {
          id: randomBytes(16).toString("hex"),
          srcKey: `k${i}`,
          dstKey: `k${i}`,
          offset: 0,
          length: raw.length,
          objectSize: raw.length,
        },
        raw: [raw],
        rawCrc: crc32(raw),
      }));
      const f = await encodeBatchFrame(list, { compress: "zstd", encrypt: true }, keys, 0);
      const frame = Buffer.concat([f.head, ...f.payload]);
      assert.ok(decodeHeader(frame).flags & 2, "compressed");
      const got = await decodeBatch(frame, keys, 0);
      assert.deepEqual(
        got.raws,
        raws.map((r) => r.toString()),
      );
    });

    it("rejects a batch whose chunk fails its own checksum, though the frame's is right", async () => {
      // The sender claims another CRC-32 for the second chunk; the frame's tag and total CRC are right.
      const f = await encodeBatchFrame(
        items([b.crcs[0], b.crcs[1] ^ 1]),
        { compress: "none", encrypt: true },
        keys,
        0,
      );
      await assert.rejects(
        decodeBatch(Buffer.concat([f.head, ...f.payload]), keys, 0),
        new RegExp(`chunk ${b.chunks[1].id} of a batch failed its checksum`),
      );
    });

    it("rejects a batch whose chunks do not add up to its length, or that holds too many", async () => {
      const short = items().map((it, i) =>
        i === 1 ? { ...it, req: { ...it.req, length: 4 } } : it,
      );
      const f = await encodeBatchFrame(short, { compress: "none", encrypt: false }, keys, 0);
      await assert.rejects(
        decodeBatch(Buffer.concat([f.head, ...f.payload]), keys, 0),
        /a batch's chunks add up to 10 bytes, its header says 11/,
      );
      const many = Array.from({ length: MAX_BATCH_CHUNKS + 1 }, () => items()[0]);
      assert.throws(() => encodeBatchFrame(many, { compress: "none" }, keys, 0), /1 to 128 chunks/);
      const frame = Buffer.from(b.frame, "hex");
      const single = Buffer.from(vectors.frames.plain, "hex");
      let at = 0;
      const start = await readFrameStart(async (n) => single.subarray(at, (at += n)), 0);
      assert.throws(() => parseBatchMeta(start), /not a batch frame/);
      at = 0;
      const bs = await readFrameStart(async (n) => frame.subarray(at, (at += n)), b.frameSeq);
      assert.throws(() => parseMeta(bs), /a batch frame holds many chunks/);
    });

    it("rejects a flipped bit anywhere in a batch frame's payload", async () => {
      const frame = Buffer.from(b.frame, "hex");
      frame[frame.length - 20] ^= 1;
      await assert.rejects(decodeBatch(frame, keys, b.frameSeq), /failed authentication/);
    });
  });
});
