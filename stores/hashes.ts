import * as crypto from "node:crypto";
import { crc32c } from "@node-rs/crc32";
import { crc32 } from "./checksum";

/*
 * The checksum vocabulary: which hashes a store computes itself, and how a caller predicts them from
 * the digests of the parts it sent. A store reports only what its service computed over the bytes it
 * holds (S3's ETag and x-amz-checksum-crc32c, GCS's crc32c and md5Hash, Azure's Content-MD5, the local
 * store's CRC-32 of the bytes read back from disk), never a value skyplane wrote into metadata.
 * Every value is lowercase hex; the forms of a multipart object end in "-" and the part count.
 */

/** Algorithms over a run of bytes that a gateway can compute for a part. */
export type PartHash = "crc32" | "crc32c" | "md5";

/** Every form a store reports: whole-object hashes, and the per-part composites of S3. */
export type HashName = PartHash | "md5-parts" | "crc32c-parts";

/** A store's hashes of one object, by algorithm. */
export type Hashes = Partial<Record<HashName, string>>;

/** How a store's reported hash of a multipart object follows from its parts' hashes. */
export type MultipartHash =
  /** The hash of the whole object (GCS's composite crc32c, the local store's CRC-32). */
  | "combined"
  /** The hash of the parts' hashes, then "-N" (S3's multipart ETag and COMPOSITE checksums). */
  | "parts"
  /** The store reports no hash of a multipart object (Azure's committed block lists). */
  | "none";

/**
 * The part hashes in `algs` of bytes fed in order, piece by piece: a reader hands each piece over as
 * it lands, while it is still in the processor's cache, rather than hashing the whole run afterwards.
 */
export class PartHasher {
  private crc?: number;
  private readonly md5?: crypto.Hash;
  private crc32c?: number;

  constructor(algs: readonly PartHash[]) {
    if (algs.includes("crc32")) this.crc = 0;
    if (algs.includes("md5")) this.md5 = crypto.createHash("md5");
    // Node has no CRC-32C of its own; @node-rs/crc32's SIMD one is ~14× the SDK's JavaScript table.
    if (algs.includes("crc32c")) this.crc32c = 0;
  }

  /** Takes the next piece. */
  update(piece: Uint8Array): void {
    if (this.crc !== undefined) this.crc = crc32(piece, this.crc);
    this.md5?.update(piece);
    if (this.crc32c !== undefined && piece.length > 0) this.crc32c = crc32c(piece, this.crc32c);
  }

  /** The hashes of every piece taken. */
  async digest(): Promise<Hashes> {
    const out: Hashes = {};
    if (this.crc !== undefined) out.crc32 = hex32(this.crc);
    if (this.md5) out.md5 = this.md5.digest("hex");
    if (this.crc32c !== undefined) out.crc32c = hex32(this.crc32c);
    return out;
  }
}

/** The part hashes in `algs` of `data` (pieces taken in order). */
export async function hashParts(
  algs: readonly PartHash[],
  data: readonly Uint8Array[],
): Promise<Hashes> {
  const h = new PartHasher(algs);
  for (const p of data) h.update(p);
  return h.digest();
}

/** The first algorithm both sides report, with both values; undefined when they share none. */
export function sharedHash(
  a: Hashes,
  b: Hashes,
): { alg: HashName; a: string; b: string } | undefined {
  const order: HashName[] = ["crc32c", "md5", "crc32", "crc32c-parts", "md5-parts"];
  for (const alg of order) {
    const x = a[alg];
    const y = b[alg];
    if (x !== undefined && y !== undefined) return { alg, a: x, b: y };
  }
  return undefined;
}

/** Differences of `reported` from `expected` on every algorithm both have ("md5 abc…, expected def…"). */
export function hashMismatches(reported: Hashes, expected: Hashes): string[] {
  const out: string[] = [];
  for (const [alg, value] of Object.entries(reported) as Array<[HashName, string]>) {
    const want = expected[alg];
    if (want !== undefined && want !== value) out.push(`${alg} ${value}, expected ${want}`);
  }
  return out;
}

/** True when the two sets share at least one algorithm. */
export function sharesHash(a: Hashes, b: Hashes): boolean {
  return sharedHash(a, b) !== undefined;
}

/**
 * What a store will report for an object written from `parts` (each with its size and part hashes in
 * the store's algorithms): the part's own hashes for a single write, and for a multipart upload the
 * combined or per-part composite forms the store computes. Algorithms a form cannot be derived for
 * (the MD5 of a whole multipart object, say) are left out.
 */
export async function expectedHashes(
  algs: readonly PartHash[],
  form: MultipartHash,
  parts: ReadonlyArray<{ size: number; hashes: Hashes }>,
  multipart: boolean,
): Promise<Hashes> {
  const out: Hashes = {};
  if (!multipart) {
    for (const alg of algs) if (parts[0]?.hashes[alg]) out[alg] = parts[0].hashes[alg];
    return out;
  }
  for (const alg of algs) {
    const values = parts.map((p) => p.hashes[alg]);
    if (values.some((v) => v === undefined)) continue;
    const hexes = values as string[];
    if (form === "parts" && alg === "md5") {
      const h = crypto.createHash("md5");
      for (const v of hexes) h.update(Buffer.from(v, "hex"));
      out["md5-parts"] = `${h.digest("hex")}-${parts.length}`;
    } else if (form === "parts" && alg === "crc32c") {
      out["crc32c-parts"] =
        `${(await hashParts(["crc32c"], [Buffer.concat(hexes.map((v) => Buffer.from(v, "hex")))])).crc32c}-${parts.length}`;
    } else if (form === "combined" && (alg === "crc32" || alg === "crc32c")) {
      let acc = parseInt(hexes[0], 16);
      for (let i = 1; i < parts.length; i++)
        acc = crcCombine(alg, acc, parseInt(hexes[i], 16), parts[i].size);
      out[alg] = hex32(acc);
    }
  }
  return out;
}

/** 8 lowercase hex digits of a 32-bit value. */
export function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

/** Lowercase hex of a base64 value (S3 and GCS send hashes in base64); undefined stays undefined. */
export function b64hex(b64: string | undefined): string | undefined {
  return b64 === undefined || b64 === "" ? undefined : Buffer.from(b64, "base64").toString("hex");
}

/** Base64 of a hex value, as S3, GCS and Azure take hashes. */
export function hexb64(hex: string): string {
  return Buffer.from(hex, "hex").toString("base64");
}

/*
 * CRC combination: the CRC of A‖B from CRC(A), CRC(B) and |B|, without the bytes. No package here offers
 * it (zlib's crc32_combine is not exposed by Node), so it is written out: with reflected polynomials,
 * CRC(A‖B) = CRC(A)·x^(8|B|) mod P ⊕ CRC(B), the multiplication done in GF(2)[x] mod P.
 */
const POLY: Record<"crc32" | "crc32c", number> = { crc32: 0xedb88320, crc32c: 0x82f63b78 };
const X2N = new Map<number, number[]>();

/** a·b mod P, both in the reflected bit order (x^0 is the top bit). */
function multModP(poly: number, a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ poly : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) mod P for k = 0..63. */
function powers(poly: number): number[] {
  let table = X2N.get(poly);
  if (!table) {
    table = [0x40000000]; // x^1
    for (let k = 1; k < 64; k++) table.push(multModP(poly, table[k - 1], table[k - 1]));
    X2N.set(poly, table);
  }
  return table;
}

/** The CRC of A‖B given CRC(A), CRC(B) and the length of B in bytes. */
export function crcCombine(alg: "crc32" | "crc32c", a: number, b: number, lengthB: number): number {
  const poly = POLY[alg];
  const table = powers(poly);
  // x^(8·lengthB) mod P, by the binary digits of lengthB (k starts at 3: 8 = 2^3).
  let xn = 0x80000000; // x^0
  let n = lengthB;
  for (let k = 3; n > 0; k++, n = Math.floor(n / 2))
    if (n % 2 === 1) xn = multModP(poly, table[k % 64], xn);
  return (multModP(poly, xn, a >>> 0) ^ (b >>> 0)) >>> 0;
}
