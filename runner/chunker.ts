import * as crypto from "node:crypto";
import type { ChunkRequest } from "../planner/program";
import { UserError } from "../errors";

/**
 * Sizes that decide how objects are cut into chunks: the one shape of them, from the client's
 * `TransferConfig` (which extends it) through the plan to the chunker.
 */
export interface ChunkingOptions {
  /** Objects larger than this are sent in parts (multipart at the destination). Default 128 MiB. */
  readonly multipartThresholdBytes: number;
  /** Size of each part but the last. Default 64 MiB. */
  readonly partSizeBytes: number;
}

/** Defaults of Skyplane: parts of 64 MiB for objects above 128 MiB. */
export const DEFAULT_CHUNKING: ChunkingOptions = {
  multipartThresholdBytes: 128 * 1024 * 1024,
  partSizeBytes: 64 * 1024 * 1024,
};

/** What a destination store allows a multipart upload (its `features`). */
export interface PartLimits {
  /** Most parts of one upload (S3: 10,000). */
  readonly maxParts: number;
  /** Largest part (S3: 5 GiB). */
  readonly maxPartBytes: number;
  /** Largest object (S3: 5 TiB). */
  readonly maxObjectBytes: number;
}

/** S3's limits, the tightest of the clouds': https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html */
export const S3_PART_LIMITS: PartLimits = {
  maxParts: 10_000,
  maxPartBytes: 5 * 1024 ** 3,
  maxObjectBytes: 5 * 1024 ** 4,
};

const MIB = 1024 * 1024;

/**
 * The part size of an object of `size` bytes: the configured one, grown (in whole MiB) as far as the
 * store's part count needs, and never above its largest part.
 */
export function partSizeFor(size: number, configured: number, limits: PartLimits): number {
  if (Math.ceil(size / configured) <= limits.maxParts)
    return Math.min(configured, limits.maxPartBytes);
  const needed = Math.ceil(Math.ceil(size / limits.maxParts) / MIB) * MIB;
  return Math.min(Math.max(configured, needed), limits.maxPartBytes);
}

/** How many chunks an object of `size` bytes is cut into (`planChunks` cuts it so). */
export function chunkCount(size: number, opts: ChunkingOptions, limits: PartLimits): number {
  if (size <= opts.multipartThresholdBytes) return 1;
  return Math.ceil(size / partSizeFor(size, opts.partSizeBytes, limits));
}

/** Throws a UserError naming the first object larger than the destination store holds. */
export function mustFit(objects: readonly ObjectPair[], limits: PartLimits, dst: string): void {
  const big = objects.find((o) => o.size > limits.maxObjectBytes);
  if (big) {
    throw new UserError(
      "OBJECT_TOO_LARGE",
      `${big.srcKey} is ${big.size} bytes, more than ${dst} holds in one object (${limits.maxObjectBytes} bytes): ` +
        "split it, or copy it to a store that takes larger objects",
    );
  }
}

/** One object to copy. */
export interface ObjectPair {
  /** Key at the source. */
  readonly srcKey: string;
  /** Key at the destination. */
  readonly dstKey: string;
  /** Size in bytes. */
  readonly size: number;
  /** Permission bits at the source, where it has them. */
  readonly mode?: number;
}

/** An object and the chunks it was cut into. */
export interface PlannedObject extends ObjectPair {
  /** Chunk ids in part order. */
  readonly chunkIds: string[];
  /** True when the object is written with a multipart upload. */
  readonly multipart: boolean;
  /** Size of every part but the last, for a multipart object. */
  readonly partSize: number;
}

/** A new chunk id: 32 random hex digits. */
export function newChunkId(): string {
  return crypto.randomBytes(16).toString("hex");
}

/**
 * Cuts objects into chunk requests: one chunk per object up to the threshold (zero-byte objects too),
 * parts of `partSizeBytes` above it, grown where an object would need more parts than the destination
 * allows (`partSizeFor`). Upload ids are filled in once the uploads exist.
 */
export function planChunks(
  objects: readonly ObjectPair[],
  opts: ChunkingOptions = DEFAULT_CHUNKING,
  id: () => string = newChunkId,
  limits: PartLimits = S3_PART_LIMITS,
): { objects: PlannedObject[]; chunks: ChunkRequest[] } {
  if (opts.partSizeBytes <= 0)
    throw new UserError("BAD_PART_SIZE", "the part size must be positive");
  const planned: PlannedObject[] = [];
  const chunks: ChunkRequest[] = [];
  for (const o of objects) {
    const multipart = o.size > opts.multipartThresholdBytes;
    const partSize = partSizeFor(o.size, opts.partSizeBytes, limits);
    const chunkIds: string[] = [];
    if (!multipart) {
      const c = {
        id: id(),
        srcKey: o.srcKey,
        dstKey: o.dstKey,
        offset: 0,
        length: o.size,
        objectSize: o.size,
        ...(o.mode !== undefined ? { mode: o.mode } : {}),
      };
      chunks.push(c);
      chunkIds.push(c.id);
    } else {
      const parts = chunkCount(o.size, opts, limits);
      for (let n = 1; n <= parts; n++) {
        const offset = (n - 1) * partSize;
        const c: ChunkRequest = {
          id: id(),
          srcKey: o.srcKey,
          dstKey: o.dstKey,
          offset,
          length: Math.min(partSize, o.size - offset),
          objectSize: o.size,
          part: { number: n, uploadIds: {} },
        };
        chunks.push(c);
        chunkIds.push(c.id);
      }
    }
    planned.push({ ...o, chunkIds, multipart, partSize });
  }
  return { objects: planned, chunks };
}

/**
 * Destination key of `srcKey`. A recursive copy keeps the path below the source prefix under the
 * destination prefix; a single object lands at the destination key, or under it when it ends in "/"
 * or is empty (a bucket or folder).
 */
export function destinationKey(
  srcKey: string,
  srcPrefix: string,
  dstPrefix: string,
  recursive: boolean,
): string {
  if (!recursive) {
    if (dstPrefix === "" || dstPrefix.endsWith("/"))
      return dstPrefix + srcKey.slice(srcKey.lastIndexOf("/") + 1);
    return dstPrefix;
  }
  const base = srcPrefix === "" || srcPrefix.endsWith("/") ? srcPrefix : srcPrefix + "/";
  const rel = srcKey.startsWith(base)
    ? srcKey.slice(base.length)
    : srcKey.slice(srcKey.lastIndexOf("/") + 1);
  const dst = dstPrefix === "" || dstPrefix.endsWith("/") ? dstPrefix : dstPrefix + "/";
  return dst + rel;
}
