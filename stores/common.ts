import { crc32, formatCrc } from "./checksum";
import { ObjectInfo, ObjectStore, StoreError } from "./types";

/*
 * What the cloud adapters share: the same answers to the same questions, whatever the SDK.
 */

/** A store's checksum of `key`: the recorded one, else the CRC-32 of its bytes. */
export async function checksumOf(store: ObjectStore, key: string): Promise<string | undefined> {
  const info = await store.head(key);
  if (!info) return undefined;
  return info.checksum ?? formatCrc(crc32(await store.get(key)));
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
