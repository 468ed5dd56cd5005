import type { Hashes } from "./hashes";
import { ObjectInfo, ObjectStore, StoreError } from "./types";

/*
 * What the cloud adapters share: the same answers to the same questions, whatever the SDK.
 */

/** A cloud store's hashes of `key`: what its service reports (`head`), never read from the bytes. */
export async function hashesOf(store: ObjectStore, key: string): Promise<Hashes | undefined> {
  return (await store.head(key))?.hashes;
}

/** The error of a write whose bytes the service refused, or reported other hashes of, than were sent. */
export function checksumMismatch(key: string, detail: string): StoreError {
  return new StoreError("CHECKSUM_MISMATCH", `verification failed for ${key}: ${detail}`);
}

/** `bytes`, copied into `into` when it is given and large enough (callers reuse their buffers). */
export function intoBuffer(bytes: Buffer, into?: Buffer): Buffer {
  if (!into || into.length < bytes.length) return bytes;
  bytes.copy(into);
  return into.subarray(0, bytes.length);
}

/**
 * `head` of a key that is not there: undefined. Some servers answer a missing key in an existing
 * bucket with the same bare 404 as a missing bucket, hence the `exists` check.
 */
export async function headOrMissing(
  read: () => Promise<ObjectInfo>,
  exists: () => Promise<boolean>,
): Promise<ObjectInfo | undefined> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof StoreError && err.code === "NO_SUCH_KEY") return undefined;
    if (err instanceof StoreError && err.code === "NO_SUCH_BUCKET" && (await exists()))
      return undefined;
    throw err;
  }
}
