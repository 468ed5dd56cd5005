import * as crypto from "node:crypto";
import type { ChunkRequest } from "../planner/program";

/** Sizes that decide how objects are cut into chunks. */
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
}

/** A new chunk id: 32 random hex digits. */
export function newChunkId(): string {
  return crypto.randomBytes(16).toString("hex");
}

/**
 * Cuts objects into chunk requests: one chunk per object up to the threshold (zero-byte objects too),
 * parts of `partSizeBytes` above it. Upload ids are filled in once the uploads exist.
 */
export function planChunks(
  objects: readonly ObjectPair[],
  opts: ChunkingOptions = DEFAULT_CHUNKING,
  id: () => string = newChunkId,
): { objects: PlannedObject[]; chunks: ChunkRequest[] } {
  if (opts.partSizeBytes <= 0) throw new Error("the part size must be positive");
  const planned: PlannedObject[] = [];
  const chunks: ChunkRequest[] = [];
  for (const o of objects) {
    const multipart = o.size > opts.multipartThresholdBytes;
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
      const parts = Math.ceil(o.size / opts.partSizeBytes);
      for (let n = 1; n <= parts; n++) {
        const offset = (n - 1) * opts.partSizeBytes;
        const c: ChunkRequest = {
          id: id(),
          srcKey: o.srcKey,
          dstKey: o.dstKey,
          offset,
          length: Math.min(opts.partSizeBytes, o.size - offset),
          objectSize: o.size,
          part: { number: n, uploadIds: {} },
        };
        chunks.push(c);
        chunkIds.push(c.id);
      }
    }
    planned.push({ ...o, chunkIds, multipart });
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
