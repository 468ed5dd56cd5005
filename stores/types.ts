import type { Hashes, MultipartHash, PartHash } from "./hashes";
import { SkyplaneError } from "../errors";
import { crc32, formatCrc } from "./checksum";

/*
 * The one narrow interface every object store adapter implements (local folders now; S3, GCS and Azure
 * Blob later), plus the capabilities each declares. The runner and the gateways speak only this.
 */

/** What a store can do beyond the basics. */
export interface StoreFeatures {
  /** Native multipart upload (create, upload part, complete, abort). */
  readonly multipart: boolean;
  /** Copies inside the store without moving bytes through the client. */
  readonly serverSideCopy: boolean;
  /** Largest part a multipart upload accepts, in bytes. */
  readonly maxPartBytes: number;
  /** Most parts a multipart upload may have. */
  readonly maxParts: number;
  /** Largest object the store holds, in bytes. */
  readonly maxObjectBytes: number;
  /**
   * Hashes of a write's bytes that the adapter sends for the service to check, and that the store
   * reports back as its own (see `stores/hashes.ts`); a caller that knows these of every part can
   * predict the store's hashes of the object.
   */
  readonly hashes: readonly PartHash[];
  /** How the store's hash of a multipart object follows from its parts' hashes. */
  readonly multipartHash: MultipartHash;
}

/** One object as a listing or `head` reports it. */
export interface ObjectInfo {
  /** The key, relative to the bucket. */
  readonly key: string;
  /** Size in bytes. */
  readonly size: number;
  /** Last modification time. */
  readonly lastModified: Date;
  /** The hashes the store itself computed of the content (none that skyplane wrote as metadata). */
  readonly hashes?: Hashes;
  /** Permission bits, where the store has them (the local store); copies into a local bucket keep them. */
  readonly mode?: number;
}

/** One page of a listing. */
export interface ListPage {
  /** Objects on this page, in key order (UTF-8 byte order, as S3 sorts). */
  readonly objects: ObjectInfo[];
  /** Common prefixes (ending in the delimiter) when a delimiter was given. */
  readonly prefixes: string[];
  /** Pass back as `token` to get the next page; absent on the last page. */
  readonly nextToken?: string;
}

/** Options of `list`. */
export interface ListOptions {
  /** Only keys that start with this. */
  readonly prefix?: string;
  /** Group keys that contain this after the prefix into `prefixes` (usually "/"). */
  readonly delimiter?: string;
  /** Page size; default 1000. */
  readonly maxKeys?: number;
  /** The `nextToken` of the previous page. */
  readonly token?: string;
}

/** A part that a multipart upload has received. */
export interface UploadedPart {
  /** 1-based part number. */
  readonly partNumber: number;
  /** The hashes the store reported for the part it received (on completion: what the caller expects). */
  readonly hashes?: Hashes;
}

/** Bytes to write: one buffer, or pieces written in order (no copy into one buffer). */
export type WriteData = Buffer | readonly Buffer[];

/** Options of writes. */
export interface WriteOptions {
  /** The CRC-32 the caller computed over exactly these bytes; the local store checks it before publishing. */
  readonly crc32?: number;
  /** Permission bits of the object where the store has them (the local store); default 0600. */
  readonly mode?: number;
  /**
   * Hashes (in `features.hashes`) the caller computed over exactly these bytes: the adapter sends them
   * for the service to check (a mismatch is refused, StoreError CHECKSUM_MISMATCH) instead of hashing
   * the bytes again.
   */
  readonly hashes?: Hashes;
}

/** A bucket (or container, or folder) of one store. */
export interface ObjectStore {
  /** URI scheme, e.g. `local`. */
  readonly scheme: string;
  /** The bucket name. */
  readonly bucket: string;
  /** What this store can do. */
  readonly features: StoreFeatures;
  /**
   * The region the bucket lives in as a region id (`local:east`, `aws:eu-west-1`, `gcp:us-central1`: a
   * cloud bucket's region, never a zone, whether or not skyplane has gateways there); undefined if the
   * store cannot tell.
   */
  region(): Promise<string | undefined>;
  /** True when the bucket exists. */
  exists(): Promise<boolean>;
  /**
   * Makes the bucket in `region`, a region id of the store's provider: `aws:us-east-1`; for GCS a region
   * or a zone of it (`gcp:us-central1`); the local cloud's `local:east` (an Azure container is where its
   * storage account is). A bucket that exists already is a StoreError CONFLICT, but for a local bucket
   * already in `region`, which is kept. A region of another provider is a StoreError BAD_REGION.
   */
  createBucket(region: string): Promise<void>;
  /** One page of keys. */
  list(opts?: ListOptions): Promise<ListPage>;
  /**
   * The object's info, or undefined if there is no such object. Cheap: it carries the hashes the store
   * knows without reading the object.
   */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** The store's own hashes of the object, reading it if the store must; undefined if there is no such object. */
  hashes(key: string): Promise<Hashes | undefined>;
  /**
   * The object's bytes, or `length` bytes from `offset`. With `into` (at least that long), the bytes are
   * read into it and a view of it is returned, so that callers can reuse buffers. `onRead` is handed
   * every byte returned exactly once, in order, as views of the returned buffer: piece by piece as they
   * land where the store reads in pieces (so that a caller hashes them while they are in the processor's
   * cache), or all at once before the call resolves.
   */
  get(
    key: string,
    range?: { offset: number; length: number },
    into?: Buffer,
    onRead?: (piece: Buffer) => void,
  ): Promise<Buffer>;
  /** Writes a whole object; readers see the old object or the new one, never a part. */
  put(key: string, data: WriteData, opts?: WriteOptions): Promise<ObjectInfo>;
  /**
   * Starts a multipart upload and returns its id. `partSize`, the size of every part but the last, is
   * a hint that stores which write parts in place need; others ignore it.
   */
  createMultipartUpload(key: string, opts?: { partSize?: number; mode?: number }): Promise<string>;
  /** Uploads one part (1-based) of a multipart upload; a part uploaded again replaces the earlier one. */
  uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    data: WriteData,
    opts?: WriteOptions,
  ): Promise<UploadedPart>;
  /** Joins the parts into the object; only now does the object appear. */
  completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<ObjectInfo>;
  /** Drops a multipart upload and its parts. */
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
  /** Deletes an object; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Throws a StoreError (INVALID_KEY) if the store cannot hold `key`; stores that hold any key omit it. */
  checkKey?(key: string): void;
  /**
   * Removes work files (temporaries, parts of uploads) that writers which are gone left behind, never
   * those of a live writer; resolves to how many it removed. Stores without such files omit it.
   */
  cleanupTemporaries?(): Promise<number>;
  /**
   * Every object under `prefix` in key order, in one pass, where that is cheaper than page after page
   * (a folder, whose every page would otherwise cost a walk); `listAll` uses it where present.
   */
  iterate?(prefix?: string): AsyncIterable<ObjectInfo>;
  /** Keys of symbolic links under `prefix` that listings leave out (folders); others omit it. */
  skippedLinks?(prefix?: string): Promise<string[]>;
}

/** The pieces of `data` as a list. */
export function pieces(data: WriteData): readonly Buffer[] {
  return Buffer.isBuffer(data) ? [data] : (data as readonly Buffer[]);
}

/** Total bytes of `data`. */
export function byteLength(data: WriteData): number {
  return pieces(data).reduce((n, p) => n + p.length, 0);
}

/**
 * Regions of emulated stores on the local cloud (an S3 emulator's buckets are in local:east, and so on):
 * the emulators run on this machine, so a transfer between them is a local-cloud route.
 */
export const EMULATED_REGIONS: Readonly<Record<string, string>> = {
  s3: "local:east",
  gs: "local:west",
  azure: "local:north",
};

/** A read-back reads a range in pieces of at most this many bytes... */
export const READ_BACK_PIECE_BYTES = 8 * 1024 * 1024;
/** ...and this many ranges at once, each into its own buffer of a piece: it holds at most their product. */
export const READ_BACK_RANGES_AT_ONCE = 4;

/**
 * The length and CRC-32 (8 hex digits) of each of `ranges` of `key` as `store` returns it now (in the
 * ranges' order), read READ_BACK_RANGES_AT_ONCE ranges at a time, each in pieces of at most
 * READ_BACK_PIECE_BYTES into its reader's one buffer, so that a part of any size needs no more: one
 * range after another, a read-back of a multipart object waited on each GET's round trip in turn.
 */
export async function readBackRanges(
  store: ObjectStore,
  key: string,
  ranges: ReadonlyArray<{ offset: number; length: number }>,
): Promise<Array<{ bytes: number; crc: string }>> {
  const out: Array<{ bytes: number; crc: string }> = new Array(ranges.length);
  let next = 0;
  const reader = async () => {
    const into = Buffer.allocUnsafe(READ_BACK_PIECE_BYTES);
    for (let i = next++; i < ranges.length; i = next++) {
      const range = ranges[i];
      let crc = 0;
      let bytes = 0;
      while (bytes < range.length) {
        const length = Math.min(READ_BACK_PIECE_BYTES, range.length - bytes);
        const got = await store.get(key, { offset: range.offset + bytes, length }, into, (p) => {
          crc = crc32(p, crc);
        });
        bytes += got.length;
        if (got.length < length) break; // the object is shorter than it should be
      }
      out[i] = { bytes, crc: formatCrc(crc) };
    }
  };
  const readers = Math.min(READ_BACK_RANGES_AT_ONCE, ranges.length);
  await Promise.all(Array.from({ length: readers }, reader));
  return out;
}

/** Every object under `prefix`, page by page. */
export async function* listAll(store: ObjectStore, prefix = ""): AsyncGenerator<ObjectInfo> {
  if (store.iterate) {
    yield* store.iterate(prefix);
    return;
  }
  let token: string | undefined;
  do {
    const page = await store.list({ prefix, token });
    yield* page.objects;
    token = page.nextToken;
  } while (token);
}

/**
 * An error of a store (NO_SUCH_BUCKET, NO_SUCH_KEY, NO_SUCH_UPLOAD, INVALID_KEY, ACCESS_DENIED, CONFLICT,
 * CHECKSUM_MISMATCH, …); `userFixable` comes from the code's row in `ERRORS`.
 */
export class StoreError extends SkyplaneError {}
