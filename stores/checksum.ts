import * as zlib from "node:zlib";

/*
 * CRC-32, the checksum of the wire protocol's frames and of the local store: gateways compute each
 * chunk's CRC-32 where they read it. The stores' other hashes, and how they combine, are in `hashes.ts`.
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
