import * as crypto from "node:crypto";
import { compress as zstdCompress, decompress as zstdDecompress } from "@mongodb-js/zstd";
import type { ChunkRequest, Compression } from "../planner/program";
import {
  checkHeaderCrc,
  ConnectionKeys,
  decodeHeader,
  encodeHeader,
  FLAG_ENCRYPTED,
  FLAG_ZSTD,
  frameAad,
  FrameHeader,
  HEADER_BYTES,
  sequenceIv,
  TAG_BYTES,
  WireError,
} from "./wire";
import { zstdDecodedBound } from "./zstd-bound";
import { crc32Of } from "../stores/checksum";
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
export async function encodeFrame(
  req: ChunkRequest,
  raw: readonly Buffer[],
  rawCrc: number,
  opts: EncodeOptions,
  keys: ConnectionKeys,
  seq: number,
): Promise<EncodedFrame> {
  const rawLength = raw.reduce((n, p) => n + p.length, 0);
  let body: readonly Buffer[] = raw;
  let bodyLength = rawLength;
  let flags = 0;
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
  const meta = Buffer.from(JSON.stringify(req), "utf8");
  const payloadLength = bodyLength + TAG_BYTES;
  const header = encodeHeader(
    { flags, chunkId: req.id, payloadLength, rawLength, rawCrc, seq },
    meta,
  );
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
 * raw chunk as pieces in order (the socket's own buffers, or the decipher's output: nothing is copied
 * into one big buffer), or rejects with WireError if anything is off; in that case every payload byte
 * has still been consumed, so the stream stays in step.
 */
export async function readFramePayload(
  start: FrameStart,
  stream: (n: number, onPiece: (p: Buffer) => void) => Promise<void>,
  keys: ConnectionKeys,
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
  await stream(header.payloadLength, (piece) => {
    const bodyPart = piece.subarray(0, Math.max(0, Math.min(piece.length, bodyLength - at)));
    if (bodyPart.length) {
      if (encrypted) {
        const plain = decipher.update(bodyPart);
        if (plain.length) body.push(plain);
      } else {
        decipher.setAAD(bodyPart);
        body.push(bodyPart);
      }
    }
    if (bodyPart.length < piece.length)
      piece.copy(tag, at + bodyPart.length - bodyLength, bodyPart.length);
    at += piece.length;
  });
  decipher.setAuthTag(tag);
  try {
    const last = decipher.final();
    if (last.length) body.push(last);
  } catch {
    throw new WireError("frame failed authentication (corrupted or forged)");
  }
  if (header.flags & FLAG_ZSTD) {
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
  const rawLength = body.reduce((n, p) => n + p.length, 0);
  if (rawLength !== header.rawLength) {
    throw new WireError(`frame decodes to ${rawLength} bytes, header says ${header.rawLength}`);
  }
  if (crc32Of(body) >>> 0 !== header.rawCrc) throw new WireError("frame checksum mismatch");
  return body;
}

/** Parses frame metadata as a ChunkRequest whose id matches the header. */
export function parseMeta(start: FrameStart): ChunkRequest {
  let req: ChunkRequest;
  try {
    req = JSON.parse(start.meta.toString("utf8"));
  } catch {
    throw new WireError("frame metadata is not JSON");
  }
  if (req?.id !== start.header.chunkId) throw new WireError("frame metadata names another chunk");
  return req;
}
