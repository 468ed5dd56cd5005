import pLimit from "p-limit";
import { listAll, ObjectInfo, ObjectStore, StoreUri } from "../stores";
import { destinationKey, ObjectPair } from "./chunker";
import { sameContent } from "./verify";

/** What a sync will do. */
export interface SyncPlan {
  /** Objects missing at the destination or different there. */
  readonly copy: ObjectPair[];
  /** Destination keys with no source object (deleted only with --delete, after the copy). */
  readonly extra: string[];
  /** Objects already the same at both ends. */
  readonly same: number;
}

/**
 * Compares a source prefix with a destination prefix: an object is copied when the destination lacks
 * it, or has another size, or other bytes (`sameContent`: the hashes both stores compute on an algorithm
 * they share, else both read and hashed).
 */
export async function planSync(
  src: ObjectStore,
  srcUri: StoreUri,
  dst: ObjectStore,
  dstUri: StoreUri,
): Promise<SyncPlan> {
  const dstObjects = new Map<string, ObjectInfo>();
  const dstBase = dstUri.key === "" || dstUri.key.endsWith("/") ? dstUri.key : dstUri.key + "/";
  // A destination folder that does not exist yet holds nothing.
  if (await dst.exists()) {
    for await (const o of listAll(dst, dstBase)) dstObjects.set(o.key, o);
  }
  const srcBase = srcUri.key === "" || srcUri.key.endsWith("/") ? srcUri.key : srcUri.key + "/";
  const candidates: ObjectPair[] = [];
  const srcObjects = new Map<string, ObjectInfo>();
  for await (const o of listAll(src, srcBase)) {
    srcObjects.set(o.key, o);
    candidates.push({
      srcKey: o.key,
      dstKey: destinationKey(o.key, srcBase, dstBase, true),
      size: o.size,
      mode: o.mode,
    });
  }
  const limit = pLimit(16);
  const differs = await Promise.all(
    candidates.map((c) =>
      limit(async () => {
        const there = dstObjects.get(c.dstKey);
        if (!there || there.size !== c.size) return true;
        const source = srcObjects.get(c.srcKey) as ObjectInfo;
        return (await sameContent(src, source, dst, there)).difference !== undefined;
      }),
    ),
  );
  const wanted = new Set(candidates.map((c) => c.dstKey));
  return {
    copy: candidates.filter((_, i) => differs[i]),
    extra: [...dstObjects.keys()].filter((k) => !wanted.has(k)).sort(),
    same: differs.filter((d) => !d).length,
  };
}
