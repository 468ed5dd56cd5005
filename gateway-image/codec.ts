import * as crypto from "node:crypto";
import { compress as zstdCompress, decompress as zstdDecompress } from "@mongodb-js/zstd";
import type { ChunkRequest, Compression } from "../planner/program";
import {
  checkHeaderCrc,
  ConnectionKeys,
  decodeHeader,
  encodeHeader,
  FLAG_BATCH,
  FLAG_ENCRYPTED,
  FLAG_ZSTD,
  frameAad,
  FrameHeader,
  HEADER_BYTES,
  MAX_BATCH_CHUNKS,
  MAX_META_BYTES,
  sequenceIv,
  TAG_BYTES,
  WireError,
} from "./wire";
import { zstdDecodedBound } from "./zstd-bound";
import { crc32, crc32Of } from "../stores/checksum";
import { SkyplaneError } from "../errors";

/*
 * Chunk ⇄ frame. Encoding and decoding stream the cipher over pieces of at most PIECE bytes, so a
 * 64 MiB chunk never holds the event loop for long and needs no second full-size buffer in flight.
 * zstd runs on libuv's thread pool (the binding is asynchronous), off the event loop.
 */

/** Bytes enciphered per step. */
const PIECE = 1024 * 1024;
/** zstd level: fast, as the link, not the ratio, is what matters. */
const ZSTD_LEVEL = 3;
/** How far a zstd body's bound may exceed its declared length: one block, the most a last block adds. */
const ZSTD_SLACK = 128 * 1024;

/** How a sender encodes chunks. */
export interface EncodeOptions {
  /** Compression to try. */
  readonly compress: Compression;
  /** Encipher the body (AES-256-GCM under the connection's cipher key). */
  readonly encrypt?: boolean;
}

/** A chunk ready to write to a socket, as a sequence of buffers. */
export interface EncodedFrame {
  /** Header and metadata. */
  readonly head: Buffer;
  /** Payload pieces, produced lazily so that enciphering keeps pace with the socket. */
  readonly payload: Iterable<Buffer>;
  /** Total payload bytes. */
  readonly payloadLength: number;
}

/**
 * Encodes one chunk as the `seq`-th frame of a connection with `keys`, given as pieces in order (no copy
 * into one buffer); `rawCrc` is the CRC-32 computed where the chunk was read.
 */
export function encodeFrame(
  req: ChunkRequest,
  raw: readonly Buffer[],
  rawCrc: number,
  opts: EncodeOptions,
  keys: ConnectionKeys,
  seq: number,
): Promise<EncodedFrame> {
  const meta = Buffer.from(JSON.stringify(req), "utf8");
  return encode(req.id, meta, raw, rawCrc, 0, opts, keys, seq);
}

/** One chunk of a batch: its request, its raw bytes as pieces in order, and their CRC-32. */
export interface BatchItem {
  readonly req: ChunkRequest;
  readonly raw: readonly Buffer[];
  readonly rawCrc: number;
}

/** The metadata of a batch frame of `items` (see wire.ts). */
export function batchMeta(items: readonly Pick<BatchItem, "req" | "rawCrc">[]): Buffer {
  return Buffer.from(
    JSON.stringify({ chunks: items.map((i) => i.req), crcs: items.map((i) => i.rawCrc >>> 0) }),
    "utf8",
  );
}

/**
 * Encodes many chunks as one batch frame, the `seq`-th of a connection with `keys` (see wire.ts): one
 * header, one tag and one ack for all of them. At most MAX_BATCH_CHUNKS, and their metadata must fit
 * MAX_META_BYTES (`batchMeta` says how large it is).
 */
export function encodeBatchFrame(
  items: readonly BatchItem[],
  opts: EncodeOptions,
  keys: ConnectionKeys,
  seq: number,
): Promise<EncodedFrame> {
  if (items.length === 0 || items.length > MAX_BATCH_CHUNKS)
    throw new WireError(`a batch holds 1 to ${MAX_BATCH_CHUNKS} chunks, not ${items.length}`);
  const raw = items.flatMap((i) => i.raw);
  return encode(items[0].req.id, batchMeta(items), raw, crc32Of(raw), FLAG_BATCH, opts, keys, seq);
}

async function encode(
  chunkId: string,
  meta: Buffer,
  raw: readonly Buffer[],
  rawCrc: number,
  kind: number,
  opts: EncodeOptions,
  keys: ConnectionKeys,
  seq: number,
): Promise<EncodedFrame> {
  if (meta.length > MAX_META_BYTES)
    throw new WireError(`frame metadata of ${meta.length} bytes is over ${MAX_META_BYTES}`);
  const rawLength = raw.reduce((n, p) => n + p.length, 0);
  let body: readonly Buffer[] = raw;
  let bodyLength = rawLength;
  let flags = kind;
  if (opts.compress === "zstd" && rawLength > 0) {
    const packed = await zstdCompress(raw.length === 1 ? raw[0] : Buffer.concat(raw), ZSTD_LEVEL);
    // Skip compression for chunks that do not shrink (already compressed or random data).
    if (packed.length < rawLength) {
      body = [packed];
      bodyLength = packed.length;
      flags |= FLAG_ZSTD;
    }
  }
  if (opts.encrypt) {
    if (!keys.cipher)
      throw new SkyplaneError("NO_KEY", "the program encrypts, but the gateway has no key");
    flags |= FLAG_ENCRYPTED;
  }
  const payloadLength = bodyLength + TAG_BYTES;
  const header = encodeHeader({ flags, chunkId, payloadLength, rawLength, rawCrc, seq }, meta);
  const encrypt = opts.encrypt === true;
  const cipher = crypto.createCipheriv(
    "aes-256-gcm",
    encrypt ? (keys.cipher as Buffer) : keys.frames,
    sequenceIv(seq),
  );
  cipher.setAAD(frameAad(header, meta));
  function* pieces(): Generator<Buffer> {
    for (const part of body) {
      for (let at = 0; at < part.length; at += PIECE) {
        const piece = part.subarray(at, Math.min(part.length, at + PIECE));
        // A plain body goes out as it is; the tag still covers it (as additional data).
        if (encrypt) yield cipher.update(piece);
        else {
          cipher.setAAD(piece);
          yield piece;
        }
      }
    }
    const last = cipher.final();
    yield last.length ? Buffer.concat([last, cipher.getAuthTag()]) : cipher.getAuthTag();
  }
  return { head: Buffer.concat([header, meta]), payload: pieces(), payloadLength };
}

/** A frame whose header and metadata were read; the payload follows. */
export interface FrameStart {
  /** Decoded header fields. */
  readonly header: FrameHeader;
  /** The raw header bytes. */
  readonly headerBytes: Buffer;
  /** The metadata bytes. */
  readonly meta: Buffer;
}

/**
 * Reads and checks a frame's header and metadata; `seq` is the sequence number the frame must carry.
 * Throws WireError when the stream is unusable.
 */
export async function readFrameStart(
  read: (n: number) => Promise<Buffer>,
  seq: number,
): Promise<FrameStart> {
  const headerBytes = await read(HEADER_BYTES);
  const header = decodeHeader(headerBytes);
  const meta = await read(header.metaLength);
  if (!checkHeaderCrc(headerBytes, meta)) throw new WireError("frame header checksum mismatch");
  if (header.seq !== seq) {
    throw new WireError(
      `frame numbered ${header.seq} where ${seq} was due (replayed, reordered or injected)`,
    );
  }
  return { header, headerBytes, meta };
}

/**
 * Decodes the payload of a frame: deciphers pieces as they arrive (or feeds a plain body to the tag),
 * checks the tag, decompresses within the declared length, and checks length and CRC. Resolves to the
 * raw chunk as pieces in order (the socket's own buffers, or the decipher's output), or rejects with
 * WireError if anything is off; in that case every payload byte has still been consumed, so the stream
 * stays in step. With `into` (at least rawLength bytes, e.g. a pooled buffer), a body without zstd is
 * gathered into it instead, each piece copied while it is still in the cache, and the chunk is one view
 * of it: the many small buffers a socket and a decipher make then die young, rather than living as long
 * as the chunk and leaving the garbage collector to find them.
 */
export async function readFramePayload(
  start: FrameStart,
  stream: (n: number, onPiece: (p: Buffer) => void) => Promise<void>,
  keys: ConnectionKeys,
  into?: Buffer,
): Promise<Buffer[]> {
  const { header } = start;
  const encrypted = (header.flags & FLAG_ENCRYPTED) !== 0;
  if (encrypted && !keys.cipher)
    throw new WireError("encrypted frame, but this gateway has no key");
  const bodyLength = header.payloadLength - TAG_BYTES;
  let body: Buffer[] = [];
  const tag = Buffer.alloc(TAG_BYTES);
  let at = 0; // payload bytes seen
  const decipher = crypto.createDecipheriv(
    "aes-256-gcm",
    encrypted ? (keys.cipher as Buffer) : keys.frames,
    sequenceIv(header.seq),
  );
  decipher.setAAD(frameAad(start.headerBytes, start.meta));
  // Without zstd the body is the raw chunk: its CRC-32 is taken of each piece as it is decoded, while
  // the piece is still in the processor's cache, rather than in a second pass over the whole chunk.
  const zstd = (header.flags & FLAG_ZSTD) !== 0;
  const gather = !zstd && into !== undefined && into.length >= header.rawLength ? into : undefined;
  let crc = 0;
  let gathered = 0; // bytes decoded, gathered or not
  const keep = (plain: Buffer) => {
    if (gather) {
      // Past rawLength nothing is copied; the length check below rejects the frame.
      if (gathered + plain.length <= gather.length) {
        plain.copy(gather, gathered);
        crc = crc32(gather.subarray(gathered, gathered + plain.length), crc);
      }
    } else {
      body.push(plain);
      if (!zstd) crc = crc32(plain, crc);
    }
    gathered += plain.length;
  };
  await stream(header.payloadLength, (piece) => {
    const bodyPart = piece.subarray(0, Math.max(0, Math.min(piece.length, bodyLength - at)));
    if (bodyPart.length) {
      if (encrypted) {
        const plain = decipher.update(bodyPart);
        if (plain.length) keep(plain);
      } else {
        decipher.setAAD(bodyPart);
        keep(bodyPart);
      }
    }
    if (bodyPart.length < piece.length)
      piece.copy(tag, at + bodyPart.length - bodyLength, bodyPart.length);
    at += piece.length;
  });
  decipher.setAuthTag(tag);
  try {
    const last = decipher.final();
    if (last.length) keep(last);
  } catch {
    throw new WireError("frame failed authentication (corrupted or forged)");
  }
  if (zstd) {
    const packed = body.length === 1 ? body[0] : Buffer.concat(body);
    // The binding decompresses whole buffers without a limit: what the blocks can decode to is
    // checked first, so a small frame cannot make the gateway hold far more than it declared.
    const bound = zstdDecodedBound(packed);
    if (bound === undefined || bound > header.rawLength + ZSTD_SLACK) {
      throw new WireError(
        `frame payload is not zstd that decodes to at most its declared ${header.rawLength} bytes`,
      );
    }
    try {
      body = [await zstdDecompress(packed)];
    } catch {
      throw new WireError("frame payload is not valid zstd");
    }
  }
  if (gather) body = gathered > 0 ? [gather.subarray(0, Math.min(gathered, gather.length))] : [];
  const rawLength = gather ? gathered : body.reduce((n, p) => n + p.length, 0);
  if (rawLength !== header.rawLength) {
    throw new WireError(`frame decodes to ${rawLength} bytes, header says ${header.rawLength}`);
  }
  if ((zstd ? crc32Of(body) : crc) >>> 0 !== header.rawCrc)
    throw new WireError("frame checksum mismatch");
  return body;
}

/** Parses frame metadata as a ChunkRequest whose id matches the header. */
export function parseMeta(start: FrameStart): ChunkRequest {
  if (start.header.flags & FLAG_BATCH) throw new WireError("a batch frame holds many chunks");
  let req: ChunkRequest;
  try {
    req = JSON.parse(start.meta.toString("utf8"));
  } catch {
    throw new WireError("frame metadata is not JSON");
  }
  if (req?.id !== start.header.chunkId) throw new WireError("frame metadata names another chunk");
  return req;
}

/**
 * Parses a batch frame's metadata: its chunk requests, the first named by the header, their lengths
 * adding up to the frame's raw length, each with its CRC-32.
 */
export function parseBatchMeta(start: FrameStart): { chunks: ChunkRequest[]; crcs: number[] } {
  if (!(start.header.flags & FLAG_BATCH)) throw new WireError("not a batch frame");
  let meta: { chunks?: unknown; crcs?: unknown };
  try {
    meta = JSON.parse(start.meta.toString("utf8"));
  } catch {
    throw new WireError("frame metadata is not JSON");
  }
  const { chunks, crcs } = meta ?? {};
  if (
    !Array.isArray(chunks) ||
    !Array.isArray(crcs) ||
    chunks.length === 0 ||
    chunks.length > MAX_BATCH_CHUNKS ||
    crcs.length !== chunks.length
  )
    throw new WireError(
      `a batch frame's metadata must name 1 to ${MAX_BATCH_CHUNKS} chunks, each with its CRC-32`,
    );
  if ((chunks[0] as ChunkRequest)?.id !== start.header.chunkId)
    throw new WireError("frame metadata names another chunk");
  let total = 0;
  for (const [i, c] of (chunks as ChunkRequest[]).entries()) {
    const crc = crcs[i] as unknown;
    if (
      typeof c !== "object" ||
      c === null ||
      !Number.isSafeInteger(c.length) ||
      c.length < 0 ||
      !Number.isInteger(crc) ||
      (crc as number) < 0 ||
      (crc as number) > 0xffffffff
    )
      throw new WireError(`chunk ${i} of a batch frame has no length or CRC-32`);
    total += c.length;
  }
  if (total !== start.header.rawLength)
    throw new WireError(
      `a batch's chunks add up to ${total} bytes, its header says ${start.header.rawLength}`,
    );
  return { chunks: chunks as ChunkRequest[], crcs: crcs as number[] };
}

/**
 * Cuts a batch's decoded body (pieces in order) into its chunks' raw bytes, without copying, and
 * checks each chunk's CRC-32; throws WireError on any that differs.
 */
export function splitBatch(
  body: readonly Buffer[],
  batch: { chunks: readonly ChunkRequest[]; crcs: readonly number[] },
): Buffer[][] {
  const out: Buffer[][] = [];
  let piece = 0;
  let at = 0; // offset in body[piece]
  for (const [i, c] of batch.chunks.entries()) {
    const parts: Buffer[] = [];
    let left = c.length;
    while (left > 0) {
      const p = body[piece];
      if (!p) throw new WireError("a batch's body is shorter than its chunks");
      const take = Math.min(left, p.length - at);
      parts.push(p.subarray(at, at + take));
      left -= take;
      at += take;
      if (at === p.length) {
        piece++;
        at = 0;
      }
    }
    if (crc32Of(parts) >>> 0 !== batch.crcs[i] >>> 0)
      throw new WireError(`chunk ${c.id} of a batch failed its checksum`);
    out.push(parts);
  }
  return out;
}
