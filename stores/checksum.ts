import * as zlib from "node:zlib";

/*
 * Object checksums. A whole object written at once has the CRC-32 of its bytes; an object written in
 * parts has a composite, like S3's multipart ETag: the CRC-32 of the parts' CRC-32s (4 bytes each, big
 * endian, in part order), then "-" and the part count. Gateways compute each chunk's CRC-32 where they
 * read it, so the runner can tell what an object's checksum must be without reading it again.
 */

/** CRC-32 (IEEE, as zlib and gzip) of `data`, continuing from `previous`. */
export function crc32(data: Uint8Array, previous = 0): number {
  // Node 20's zlib.crc32 sometimes answers 0 for an empty buffer whatever `previous` was.
  return data.length === 0 ? previous >>> 0 : zlib.crc32(data, previous);
}

/** CRC-32 of pieces taken in order, as if they were one buffer. */
export function crc32Of(pieces: readonly Uint8Array[]): number {
  return pieces.reduce((crc, p) => crc32(p, crc), 0);
}

/** Checksum string of a whole object with CRC-32 `crc`: 8 lowercase hex digits. */
export function formatCrc(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, "0");
}

/** Checksum of an object written in parts whose CRC-32s (as numbers or hex strings) are `parts`. */
export function compositeChecksum(parts: ReadonlyArray<number | string>): string {
  const buf = Buffer.alloc(parts.length * 4);
  parts.forEach((p, i) =>
    buf.writeUInt32BE(typeof p === "number" ? p >>> 0 : parseInt(p, 16), i * 4),
  );
  return `${formatCrc(crc32(buf))}-${parts.length}`;
}
