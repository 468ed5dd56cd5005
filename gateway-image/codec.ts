import * as crypto from "node:crypto";
import { compress as zstdCompress, decompress as zstdDecompress } from "@mongodb-js/zstd";
import type { ChunkRequest, Compression } from "../planner/program";
import {
  checkHeaderCrc,
  decodeHeader,
  encodeHeader,
  FLAG_ENCRYPTED,
  FLAG_ZSTD,
  frameAad,
  FrameHeader,
  HEADER_BYTES,
  TAG_BYTES,
  WireError,
} from "./wire";
import { crc32 } from "../stores/checksum";

/*
 * Chunk ⇄ frame. Encoding and decoding stream the cipher over pieces of at most PIECE bytes, so a
 * 64 MiB chunk never holds the event loop for long and needs no second full-size buffer in flight.
 * zstd runs on libuv's thread pool (the binding is asynchronous), off the event loop.
 */

/** Bytes enciphered per step. */
const PIECE = 1024 * 1024;
/** zstd level: fast, as the link, not the ratio, is what matters. */
const ZSTD_LEVEL = 3;

/** How a sender encodes chunks. */
export interface EncodeOptions {
  /** Compression to try. */
  readonly compress: Compression;
  /** The dataplane's AES-256 key when encrypting, else undefined. */
  readonly key?: Buffer;
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

/** Encodes one chunk; `rawCrc` is the CRC-32 computed where the chunk was read. */
export async function encodeFrame(
  req: ChunkRequest,
  raw: Buffer,
  rawCrc: number,
  opts: EncodeOptions,
): Promise<EncodedFrame> {
  let body = raw;
  let flags = 0;
  if (opts.compress === "zstd" && raw.length > 0) {
    const packed = await zstdCompress(raw, ZSTD_LEVEL);
    // Skip compression for chunks that do not shrink (already compressed or random data).
    if (packed.length < raw.length) {
      body = packed;
      flags |= FLAG_ZSTD;
    }
  }
  const meta = Buffer.from(JSON.stringify(req), "utf8");
  if (!opts.key) {
    const head = encodeHeader(
      { flags, chunkId: req.id, payloadLength: body.length, rawLength: raw.length, rawCrc, iv: Buffer.alloc(12) },
      meta,
    );
    return { head: Buffer.concat([head, meta]), payload: [body], payloadLength: body.length };
  }
  flags |= FLAG_ENCRYPTED;
  const iv = crypto.randomBytes(12);
  const payloadLength = body.length + TAG_BYTES;
  const header = encodeHeader({ flags, chunkId: req.id, payloadLength, rawLength: raw.length, rawCrc, iv }, meta);
  const cipher = crypto.createCipheriv("aes-256-gcm", opts.key, iv);
  cipher.setAAD(frameAad(header, meta));
  function* pieces(): Generator<Buffer> {
    for (let at = 0; at < body.length; at += PIECE) {
      yield cipher.update(body.subarray(at, Math.min(body.length, at + PIECE)));
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

/** Reads and checks a frame's header and metadata. Throws WireError when the stream is unusable. */
export async function readFrameStart(read: (n: number) => Promise<Buffer>): Promise<FrameStart> {
  const headerBytes = await read(HEADER_BYTES);
  const header = decodeHeader(headerBytes);
  const meta = await read(header.metaLength);
  if (!checkHeaderCrc(headerBytes, meta)) throw new WireError("frame header checksum mismatch");
  return { header, headerBytes, meta };
}

/**
 * Decodes the payload of a frame: deciphers pieces as they arrive, checks the tag, decompresses, and
 * checks length and CRC. Resolves to the raw chunk, or rejects with WireError if anything is off; in
 * that case every payload byte has still been consumed, so the stream stays in step.
 */
export async function readFramePayload(
  start: FrameStart,
  stream: (n: number, onPiece: (p: Buffer) => void) => Promise<void>,
  key: Buffer | undefined,
): Promise<Buffer> {
  const { header } = start;
  const encrypted = (header.flags & FLAG_ENCRYPTED) !== 0;
  if (encrypted && !key) throw new WireError("encrypted frame, but this gateway has no key");
  const bodyLength = encrypted ? header.payloadLength - TAG_BYTES : header.payloadLength;
  const body = Buffer.allocUnsafe(bodyLength);
  const tag = Buffer.alloc(TAG_BYTES);
  let at = 0; // payload bytes seen
  let out = 0; // body bytes produced
  let decipher: crypto.DecipherGCM | undefined;
  if (encrypted && key) {
    decipher = crypto.createDecipheriv("aes-256-gcm", key, header.iv);
    decipher.setAAD(frameAad(start.headerBytes, start.meta));
  }
  await stream(header.payloadLength, (piece) => {
    const bodyPart = piece.subarray(0, Math.max(0, Math.min(piece.length, bodyLength - at)));
    if (bodyPart.length) {
      const plain = decipher ? decipher.update(bodyPart) : bodyPart;
      plain.copy(body, out);
      out += plain.length;
    }
    if (bodyPart.length < piece.length) piece.copy(tag, at + bodyPart.length - bodyLength, bodyPart.length);
    at += piece.length;
  });
  if (decipher) {
    decipher.setAuthTag(tag);
    try {
      const last = decipher.final();
      last.copy(body, out);
    } catch {
      throw new WireError("frame failed authentication (corrupted or forged)");
    }
  }
  let raw: Buffer = body;
  if (header.flags & FLAG_ZSTD) {
    try {
      raw = await zstdDecompress(body);
    } catch {
      throw new WireError("frame payload is not valid zstd");
    }
  }
  if (raw.length !== header.rawLength) {
    throw new WireError(`frame decodes to ${raw.length} bytes, header says ${header.rawLength}`);
  }
  if ((crc32(raw) >>> 0) !== header.rawCrc) throw new WireError("frame checksum mismatch");
  return raw;
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
