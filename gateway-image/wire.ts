import * as crypto from "node:crypto";
import * as zlib from "node:zlib";
import type { Hashes } from "../stores/hashes";
import { SkyplaneError } from "../errors";

/*
 * The gateway wire protocol, version 2. All integers are big endian.
 *
 * Handshake. Every data connection is authenticated before any chunk flows:
 *   server → client  HELLO  24 bytes: "SKYH" | version u8 | 3 zero bytes | server nonce (16 random bytes)
 *   client → server  AUTH   56 bytes: "SKYA" | version u8 | 3 zero bytes | client nonce (16 random bytes) |
 *                           HMAC-SHA256(key = dataplane token, "skyplane-data-v2" ‖ server nonce ‖ client nonce)
 * A server that gets a wrong AUTH, or none within its handshake deadline, closes the connection without a
 * word. The token never crosses the wire. Both ends then derive this connection's keys with
 * HKDF-SHA256(salt = server nonce ‖ client nonce):
 *   frame key   from the dataplane token, info "skyplane-data-v2 frames"   (tags plain frames)
 *   cipher key  from the dataplane key,   info "skyplane-data-v2 encrypt"  (encrypted frames)
 *   ack key     from the dataplane token, info "skyplane-data-v2 acks"     (tags acks)
 * Frames and acks each carry a sequence number, counted from 0 per connection and direction; a frame
 * whose number is not the next one drops the connection. So a frame or ack replayed, reordered or
 * injected into a live connection, or copied from another one, never verifies.
 *
 * Frame (client → server): a 64-byte header, then `metaLength` bytes of JSON (the ChunkRequest, with the
 * hashes the source gateway took of the bytes it read as `readHashes`), then
 * `payloadLength` bytes of payload, the last 16 of which are an AES-256-GCM tag.
 *    0  magic "SKYF"            4  version u8            5  flags u8 (bit 0 encrypted, bit 1 zstd, bit 2 batch)
 *    6  reserved u16 = 0        8  chunk id (16 bytes)  24  metaLength u32
 *   28  payloadLength u64      36  rawLength u64       44  rawCrc u32: CRC-32 of the chunk's raw bytes
 *   48  sequence u64           56  reserved u32 = 0    60  headerCrc u32: CRC-32 of bytes 0..59 ‖ meta
 * The body is the raw bytes, zstd-compressed if flag bit 1 is set (only when that shrinks them). Then
 * AES-256-GCM with IV = 4 zero bytes ‖ sequence u64: if flag bit 0 is set, under the cipher key, with
 * additional data bytes 0..59 of the header ‖ meta, and the body enciphered; otherwise under the frame
 * key, with additional data header bytes 0..59 ‖ meta ‖ body and nothing enciphered (the body is sent as
 * it is). The receiver checks headerCrc, the sequence, the tag, the length and rawCrc before it hands the
 * chunk on; a frame that fails any check is never written. A receiver whose program encrypts drops the
 * connection at a frame without flag bit 0. A zstd body whose blocks could decode to more than rawLength
 * (plus one block) is rejected before it is decompressed.
 *
 * Batch frame (flag bit 2): many small chunks in one frame, so that each costs neither a header, a tag
 * nor an ack of its own. Its metadata is `{"chunks": [ChunkRequest, …], "crcs": [u32, …]}` (at least one
 * chunk; `crcs[i]` the CRC-32 of chunk i's raw bytes), its chunk id the first chunk's, and its raw bytes
 * the chunks' raw bytes one after the other, each `length` long (they add up to rawLength; rawCrc is
 * the CRC-32 of them all). Compression and the tag cover the whole body. The receiver splits it and
 * checks every chunk's CRC-32 before it hands any on; a batch that fails a check is rejected whole.
 *
 * Ack (server → client), once the chunk has been handed on (written, or acked by the next gateway):
 *    0  magic "SKYK"   4  status u8 (0 ok, 1 rejected: corrupt, resend; 2 failed: see message;
 *                                    3 results: a batch's outcomes)
 *    5  3 zero bytes   8  chunk id (16 bytes)   24  messageLength u32   28  CRC-32 of bytes 0..27
 *   32  message (UTF-8), then a 16-byte AES-256-GCM tag under the ack key, IV = 4 zero bytes ‖ the ack's
 *       sequence u64, additional data bytes 0..31 ‖ message, nothing enciphered.
 * The message of an ok ack is empty, or `{"stored": {BUCKET: {"size", "hashes"}}}`: what each
 * destination store reported it holds once it wrote the chunk's object (hashes as `stores/hashes.ts`
 * names them). A failed or rejected ack's message says why. A batch frame gets one ack: rejected (the
 * whole batch is resent), or results, whose message is `{"results": [OUTCOME, …]}` in the batch's
 * order, each `{"ok": true}` (with "stored" as above) or `{"ok": false, "error": "…"}`.
 */

/** Protocol version spoken by this code. */
export const WIRE_VERSION = 2;
/** Frame header size in bytes. */
export const HEADER_BYTES = 64;
/** Ack header size in bytes. */
export const ACK_BYTES = 32;
/** HELLO message size. */
export const HELLO_BYTES = 24;
/** AUTH message size. */
export const AUTH_BYTES = 56;
/** Largest metadata block accepted. */
export const MAX_META_BYTES = 64 * 1024;
/** Largest payload accepted (a chunk is at most a part, and parts are at most 5 GiB in any store). */
export const MAX_PAYLOAD_BYTES = 5 * 1024 ** 3 + 16;
/** Most chunks in one batch frame: their outcomes always fit one ack. */
export const MAX_BATCH_CHUNKS = 128;
/** Bytes of the AES-GCM tag at the end of every payload and ack. */
export const TAG_BYTES = 16;

/** Frame flags. */
export const FLAG_ENCRYPTED = 1;
/** Payload compressed with zstd. */
export const FLAG_ZSTD = 2;
/** A batch of chunks (see above). */
export const FLAG_BATCH = 4;

const MAGIC_FRAME = Buffer.from("SKYF");
const MAGIC_ACK = Buffer.from("SKYK");
const MAGIC_HELLO = Buffer.from("SKYH");
const MAGIC_AUTH = Buffer.from("SKYA");
const AUTH_CONTEXT = Buffer.from("skyplane-data-v2");

/** Ack statuses. */
export enum AckStatus {
  Ok = 0,
  Rejected = 1,
  Failed = 2,
  Results = 3,
}

/** A frame or message that breaks the protocol; the connection or frame is dropped. */
export class WireError extends SkyplaneError<"WIRE_PROTOCOL"> {
  constructor(message: string) {
    super("WIRE_PROTOCOL", message);
  }
}

/** The fields of a frame header. */
export interface FrameHeader {
  /** Flag bits (FLAG_ENCRYPTED, FLAG_ZSTD). */
  readonly flags: number;
  /** Chunk id as 32 hex digits. */
  readonly chunkId: string;
  /** Bytes of JSON metadata after the header. */
  readonly metaLength: number;
  /** Bytes of payload after the metadata. */
  readonly payloadLength: number;
  /** Bytes of the chunk once decoded. */
  readonly rawLength: number;
  /** CRC-32 of the decoded chunk. */
  readonly rawCrc: number;
  /** The frame's sequence number on its connection (0, 1, 2, …). */
  readonly seq: number;
  /** CRC-32 of header bytes 0..59 and the metadata. */
  readonly headerCrc: number;
}

function idBytes(chunkId: string): Buffer {
  if (!/^[0-9a-f]{32}$/.test(chunkId))
    throw new WireError(`chunk id must be 32 hex digits: ${chunkId}`);
  return Buffer.from(chunkId, "hex");
}

/** Encodes a frame header for `meta`; the header CRC covers the header and the metadata. */
export function encodeHeader(
  h: Omit<FrameHeader, "headerCrc" | "metaLength">,
  meta: Buffer,
): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  MAGIC_FRAME.copy(b, 0);
  b.writeUInt8(WIRE_VERSION, 4);
  b.writeUInt8(h.flags, 5);
  idBytes(h.chunkId).copy(b, 8);
  b.writeUInt32BE(meta.length, 24);
  b.writeBigUInt64BE(BigInt(h.payloadLength), 28);
  b.writeBigUInt64BE(BigInt(h.rawLength), 36);
  b.writeUInt32BE(h.rawCrc >>> 0, 44);
  b.writeBigUInt64BE(BigInt(h.seq), 48);
  b.writeUInt32BE(zlib.crc32(meta, zlib.crc32(b.subarray(0, 60))) >>> 0, 60);
  return b;
}

/** Decodes and sanity-checks a frame header; the CRC is checked by `checkHeaderCrc` once meta is read. */
export function decodeHeader(b: Buffer): FrameHeader {
  if (b.length < HEADER_BYTES) throw new WireError("short frame header");
  if (!b.subarray(0, 4).equals(MAGIC_FRAME)) throw new WireError("bad frame magic");
  if (b.readUInt8(4) !== WIRE_VERSION)
    throw new WireError(`unknown wire version ${b.readUInt8(4)}`);
  const flags = b.readUInt8(5);
  if (
    (flags & ~(FLAG_ENCRYPTED | FLAG_ZSTD | FLAG_BATCH)) !== 0 ||
    b.readUInt16BE(6) !== 0 ||
    b.readUInt32BE(56) !== 0
  ) {
    throw new WireError("unknown frame flags");
  }
  const metaLength = b.readUInt32BE(24);
  const payloadLength = Number(b.readBigUInt64BE(28));
  const rawLength = Number(b.readBigUInt64BE(36));
  if (metaLength > MAX_META_BYTES)
    throw new WireError(`metadata of ${metaLength} bytes is too large`);
  if (payloadLength > MAX_PAYLOAD_BYTES || rawLength > MAX_PAYLOAD_BYTES) {
    throw new WireError("frame payload is too large");
  }
  if (payloadLength < TAG_BYTES) throw new WireError("frame payload lacks a tag");
  return {
    flags,
    chunkId: b.subarray(8, 24).toString("hex"),
    metaLength,
    payloadLength,
    rawLength,
    rawCrc: b.readUInt32BE(44),
    seq: Number(b.readBigUInt64BE(48)),
    headerCrc: b.readUInt32BE(60),
  };
}

/** True when the header CRC matches header bytes 0..59 and `meta`. */
export function checkHeaderCrc(header: Buffer, meta: Buffer): boolean {
  return zlib.crc32(meta, zlib.crc32(header.subarray(0, 60))) >>> 0 === header.readUInt32BE(60);
}

/** Additional authenticated data of a frame: header bytes 0..59 and the metadata (then a plain body). */
export function frameAad(header: Buffer, meta: Buffer): Buffer {
  return Buffer.concat([header.subarray(0, 60), meta]);
}

/** Encodes an ack; its message must fit MAX_META_BYTES. */
export function encodeAck(status: AckStatus, chunkId: string, message = ""): Buffer {
  const msg = Buffer.from(message, "utf8");
  if (msg.length > MAX_META_BYTES) throw new WireError("ack message too long");
  const b = Buffer.alloc(ACK_BYTES + msg.length);
  MAGIC_ACK.copy(b, 0);
  b.writeUInt8(status, 4);
  idBytes(chunkId).copy(b, 8);
  b.writeUInt32BE(msg.length, 24);
  b.writeUInt32BE(zlib.crc32(b.subarray(0, 28)) >>> 0, 28);
  msg.copy(b, ACK_BYTES);
  return b;
}

/** Decodes an ack header: status, chunk id and the length of the message that follows. */
export function decodeAck(b: Buffer): {
  status: AckStatus;
  chunkId: string;
  messageLength: number;
} {
  if (!b.subarray(0, 4).equals(MAGIC_ACK)) throw new WireError("bad ack magic");
  if (zlib.crc32(b.subarray(0, 28)) >>> 0 !== b.readUInt32BE(28))
    throw new WireError("bad ack checksum");
  const status = b.readUInt8(4);
  if (status > AckStatus.Results) throw new WireError(`unknown ack status ${status}`);
  const messageLength = b.readUInt32BE(24);
  if (messageLength > MAX_META_BYTES) throw new WireError("ack message too long");
  return { status, chunkId: b.subarray(8, 24).toString("hex"), messageLength };
}

/** The server's HELLO with a fresh nonce. */
export function encodeHello(nonce: Buffer = crypto.randomBytes(16)): Buffer {
  const b = Buffer.alloc(HELLO_BYTES);
  MAGIC_HELLO.copy(b, 0);
  b.writeUInt8(WIRE_VERSION, 4);
  nonce.copy(b, 8, 0, 16);
  return b;
}

/** The nonce of a server's HELLO. */
export function decodeHello(b: Buffer): Buffer {
  if (!b.subarray(0, 4).equals(MAGIC_HELLO))
    throw new WireError("the peer is not a skyplane gateway");
  if (b.readUInt8(4) !== WIRE_VERSION)
    throw new WireError(
      `the peer speaks wire version ${b.readUInt8(4)}, this gateway ${WIRE_VERSION}`,
    );
  return Buffer.from(b.subarray(8, 24));
}

function proof(token: string, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return crypto
    .createHmac("sha256", token)
    .update(AUTH_CONTEXT)
    .update(serverNonce)
    .update(clientNonce)
    .digest();
}

/** The client's AUTH answering `serverNonce` with its own `clientNonce`. */
export function encodeAuth(token: string, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  const b = Buffer.alloc(AUTH_BYTES);
  MAGIC_AUTH.copy(b, 0);
  b.writeUInt8(WIRE_VERSION, 4);
  clientNonce.copy(b, 8, 0, 16);
  proof(token, serverNonce, clientNonce).copy(b, 24);
  return b;
}

/**
 * The client nonce of `auth` when it proves knowledge of `token` for `serverNonce` (compared in constant
 * time), else undefined.
 */
export function verifyAuth(auth: Buffer, token: string, serverNonce: Buffer): Buffer | undefined {
  if (auth.length !== AUTH_BYTES || !auth.subarray(0, 4).equals(MAGIC_AUTH)) return undefined;
  if (auth.readUInt8(4) !== WIRE_VERSION) return undefined;
  const clientNonce = Buffer.from(auth.subarray(8, 24));
  const ok = crypto.timingSafeEqual(auth.subarray(24, 56), proof(token, serverNonce, clientNonce));
  return ok ? clientNonce : undefined;
}

/** The keys of one authenticated connection (see the handshake above). */
export interface ConnectionKeys {
  /** Tags plain frames. */
  readonly frames: Buffer;
  /** Enciphers and tags encrypted frames; undefined without a dataplane key. */
  readonly cipher?: Buffer;
  /** Tags acks. */
  readonly acks: Buffer;
}

/** Derives a connection's keys from the dataplane's secrets and both handshake nonces. */
export function connectionKeys(
  token: string,
  dataKey: Buffer | undefined,
  serverNonce: Buffer,
  clientNonce: Buffer,
): ConnectionKeys {
  const salt = Buffer.concat([serverNonce, clientNonce]);
  const derive = (secret: Buffer | string, info: string) =>
    Buffer.from(crypto.hkdfSync("sha256", secret, salt, `skyplane-data-v2 ${info}`, 32));
  return {
    frames: derive(token, "frames"),
    cipher: dataKey ? derive(dataKey, "encrypt") : undefined,
    acks: derive(token, "acks"),
  };
}

/** The AES-GCM IV of the message numbered `seq`: 4 zero bytes and the sequence number. */
export function sequenceIv(seq: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(BigInt(seq), 4);
  return iv;
}

/** The tag of an ack (header and message), the `seq`-th on its connection. */
export function ackTag(key: Buffer, seq: number, ack: Buffer): Buffer {
  const gmac = crypto.createCipheriv("aes-256-gcm", key, sequenceIv(seq));
  gmac.setAAD(ack);
  gmac.final();
  return gmac.getAuthTag();
}

/** True when `tag` is the tag of `ack`, the `seq`-th on its connection. */
export function verifyAckTag(key: Buffer, seq: number, ack: Buffer, tag: Buffer): boolean {
  return tag.length === TAG_BYTES && crypto.timingSafeEqual(tag, ackTag(key, seq, ack));
}

/** An object as a destination store reported it once it wrote it: its size and its own hashes. */
export interface StoredObject {
  readonly size: number;
  readonly hashes: Hashes;
}

/** What each destination store reported of a chunk's object, by bucket URI (none for a part). */
export type Stored = Readonly<Record<string, StoredObject>>;

/** The outcome of one chunk, as an ack reports it. */
export type ChunkOutcome =
  { readonly ok: true; readonly stored?: Stored } | { readonly ok: false; readonly error: string };

/** Longest error text an ack carries (the rest is in the receiver's log). */
const MAX_ERROR_CHARS = 300;

/** `text`, cut to at most `max` characters. */
function brief(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The message of a failed or rejected ack: why, within the ack's limit. */
export function failureMessage(error: string): string {
  return brief(error, MAX_ERROR_CHARS);
}

/** The message of an ok ack: what the stores reported, or nothing. */
export function okMessage(stored?: Stored): string {
  return stored && Object.keys(stored).length > 0 ? JSON.stringify({ stored }) : "";
}

/**
 * The message of a batch's results ack, within an ack's limit: errors are cut short, shorter still if
 * many would not fit; if even that does not fit (a batch written to many stores), the stored objects
 * are left out, and the runner asks the stores instead. MAX_BATCH_CHUNKS outcomes always fit then.
 */
export function resultsMessage(outcomes: readonly ChunkOutcome[]): string {
  const shapes: Array<(o: ChunkOutcome) => ChunkOutcome> = [
    (o) => (o.ok ? o : { ok: false, error: brief(o.error, MAX_ERROR_CHARS) }),
    (o) => (o.ok ? o : { ok: false, error: brief(o.error, 60) }),
    (o) => (o.ok ? { ok: true } : { ok: false, error: brief(o.error, 60) }),
  ];
  for (const shape of shapes) {
    const text = JSON.stringify({ results: outcomes.map(shape) });
    if (Buffer.byteLength(text) <= MAX_META_BYTES) return text;
  }
  throw new WireError(`the outcomes of a batch of ${outcomes.length} chunks do not fit an ack`);
}

/** True for a record of string values. */
function isHashes(h: unknown): h is Hashes {
  return (
    typeof h === "object" &&
    h !== null &&
    !Array.isArray(h) &&
    Object.values(h).every((v) => typeof v === "string")
  );
}

/** Checks a `stored` field of an ack; throws WireError if it is malformed. */
function checkStored(stored: unknown): Stored | undefined {
  if (stored === undefined) return undefined;
  if (typeof stored !== "object" || stored === null || Array.isArray(stored))
    throw new WireError("an ack's stored objects are malformed");
  for (const o of Object.values(stored)) {
    const { size, hashes } = (o ?? {}) as { size?: unknown; hashes?: unknown };
    if (!Number.isSafeInteger(size) || (size as number) < 0 || !isHashes(hashes))
      throw new WireError("an ack's stored objects are malformed");
  }
  return stored as Stored;
}

function parseMessage(message: string): Record<string, unknown> {
  try {
    const m: unknown = JSON.parse(message);
    if (typeof m === "object" && m !== null && !Array.isArray(m))
      return m as Record<string, unknown>;
  } catch {
    // falls through
  }
  throw new WireError("an ack's message is not the JSON object it should be");
}

/** What an ok ack's message says the stores hold (undefined for an empty message). */
export function decodeOkMessage(message: string): Stored | undefined {
  return message === "" ? undefined : checkStored(parseMessage(message).stored);
}

/** The `count` outcomes of a results ack's message; throws WireError if they are not that. */
export function decodeResultsMessage(message: string, count: number): ChunkOutcome[] {
  const results = parseMessage(message).results;
  if (!Array.isArray(results) || results.length !== count)
    throw new WireError(`a batch of ${count} chunks got an ack with other results`);
  return results.map((r: unknown) => {
    const o = (r ?? {}) as { ok?: unknown; error?: unknown; stored?: unknown };
    if (o.ok === true) {
      const stored = checkStored(o.stored);
      return stored ? { ok: true, stored } : { ok: true };
    }
    if (o.ok === false && typeof o.error === "string") return { ok: false, error: o.error };
    throw new WireError("a batch's ack holds a malformed outcome");
  });
}
