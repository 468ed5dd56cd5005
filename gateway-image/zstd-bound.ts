/*
 * The most a zstd payload can decode to, read from its frame and block headers alone (RFC 8878,
 * sections 3.1.1 and 3.1.1.2), so that a small payload that would expand past what its frame declared
 * (a "zstd bomb") is refused before anything is decompressed. The binding this gateway uses
 * (@mongodb-js/zstd) decompresses a whole buffer with no output limit, and Node 20's zlib has no zstd.
 *
 * Per block: a raw block decodes to its size, an RLE block to its size (1 byte repeated), a compressed
 * block to at most Block_Maximum_Size = 128 KiB. Skippable frames decode to nothing.
 */

const FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** Block_Maximum_Size: no block decodes to more. */
const BLOCK_MAX = 128 * 1024;

/**
 * An upper bound on the bytes `payload` decodes to, or undefined when it is not a well-formed sequence
 * of zstd frames (truncated, reserved bits set, a block larger than the format allows).
 */
export function zstdDecodedBound(payload: Buffer): number | undefined {
  let at = 0;
  let bound = 0;
  if (payload.length === 0) return undefined;
  while (at < payload.length) {
    if (at + 4 > payload.length) return undefined;
    const magic = payload.readUInt32LE(at);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (at + 8 > payload.length) return undefined;
      at += 8 + payload.readUInt32LE(at + 4);
      if (at > payload.length) return undefined;
      continue;
    }
    if (magic !== FRAME_MAGIC || at + 5 > payload.length) return undefined;
    const fhd = payload[at + 4];
    if (fhd & 0x08) return undefined; // reserved bit
    const singleSegment = (fhd >> 5) & 1;
    const fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fhd >> 6];
    const dictIdSize = [0, 1, 2, 4][fhd & 3];
    const checksum = (fhd >> 2) & 1;
    at += 5 + (singleSegment ? 0 : 1) + dictIdSize + fcsSize;
    for (let last = false; !last;) {
      if (at + 3 > payload.length) return undefined;
      const h = payload.readUIntLE(at, 3);
      last = (h & 1) === 1;
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      if (size > BLOCK_MAX || type === 3) return undefined;
      at += 3;
      if (type === 0) {
        bound += size;
        at += size;
      } else if (type === 1) {
        bound += size;
        at += 1;
      } else {
        bound += BLOCK_MAX;
        at += size;
      }
      if (at > payload.length) return undefined;
    }
    at += checksum ? 4 : 0;
    if (at > payload.length) return undefined;
  }
  return bound;
}
