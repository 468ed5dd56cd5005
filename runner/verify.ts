import pLimit from "p-limit";
import {
  Hashes,
  listAll,
  ObjectInfo,
  ObjectStore,
  readBackRanges,
  sharedHash,
  StoreUri,
} from "../stores/core";
import { UserError } from "../errors";
import { destinationKey } from "./chunker";

/** One object that differs between the two sides. */
export interface VerifyDifference {
  /** Key at the source (or, for an object only at the destination, its key there). */
  readonly key: string;
  /** What differs. */
  readonly problem: "missing" | "extra" | "size" | "content";
  /** The particulars, e.g. "md5 abc…, destination def…". */
  readonly detail: string;
}

/** What `verifyStores` found. */
export interface VerifyReport {
  /** Objects compared (present at both ends). */
  readonly compared: number;
  /** Of those, how many were compared by downloading and hashing both. */
  readonly downloaded: number;
  /** Every difference, in key order. */
  readonly differences: VerifyDifference[];
}

/** CRC-32 of an object, read in pieces. */
async function downloadCrc(store: ObjectStore, key: string, size: number): Promise<string> {
  return (await readBackRanges(store, key, [{ offset: 0, length: size }]))[0].crc;
}

/** The store's own hashes of an object: the listing's, else the store's answer (which may read it). */
async function hashesOf(store: ObjectStore, o: ObjectInfo): Promise<Hashes> {
  if (o.hashes && Object.keys(o.hashes).length > 0) return o.hashes;
  return (await store.hashes(o.key)) ?? {};
}

/**
 * Whether two objects of the same size hold the same bytes: by the hashes both stores compute on a
 * shared algorithm, else by downloading both and comparing CRC-32s.
 */
export async function sameContent(
  src: ObjectStore,
  s: ObjectInfo,
  dst: ObjectStore,
  d: ObjectInfo,
): Promise<{ difference?: string; downloaded: boolean }> {
  const shared = sharedHash(await hashesOf(src, s), await hashesOf(dst, d));
  if (shared) {
    return shared.a === shared.b
      ? { downloaded: false }
      : { downloaded: false, difference: `${shared.alg} ${shared.a}, destination ${shared.b}` };
  }
  const [a, b] = await Promise.all([
    downloadCrc(src, s.key, s.size),
    downloadCrc(dst, d.key, d.size),
  ]);
  return a === b
    ? { downloaded: true }
    : { downloaded: true, difference: `read back with CRC-32 ${a}, destination ${b}` };
}

/** The objects a URI names: one (not recursive) or every one under the prefix. */
async function objectsOf(
  store: ObjectStore,
  uri: StoreUri,
  recursive: boolean,
): Promise<ObjectInfo[]> {
  if (!recursive) {
    const info = uri.key ? await store.head(uri.key) : undefined;
    return info ? [info] : [];
  }
  const base = uri.key === "" || uri.key.endsWith("/") ? uri.key : uri.key + "/";
  const out: ObjectInfo[] = [];
  for await (const o of listAll(store, uri.key))
    if (o.key === uri.key || o.key.startsWith(base)) out.push(o);
  return out;
}

/**
 * Compares a source with a destination as `rclone check` does: keys, sizes, and the hashes both stores
 * compute on an algorithm they share; where they share none, both objects are downloaded and hashed.
 * Only the stores' own hashes count, never a value skyplane wrote as metadata.
 */
export async function verifyStores(
  src: ObjectStore,
  srcUri: StoreUri,
  dst: ObjectStore,
  dstUri: StoreUri,
  recursive: boolean,
): Promise<VerifyReport> {
  for (const [store, uri] of [
    [src, srcUri],
    [dst, dstUri],
  ] as const) {
    if (!(await store.exists()))
      throw new UserError("NO_SUCH_BUCKET", `${uri.scheme}://${uri.bucket} does not exist`);
  }
  const srcObjects = await objectsOf(src, srcUri, recursive);
  if (srcObjects.length === 0)
    throw new UserError(
      "NOTHING_TO_VERIFY",
      `nothing at ${srcUri.scheme}://${srcUri.bucket}/${srcUri.key}${recursive ? "" : " (add -r for a prefix)"}`,
    );
  const srcPrefix = recursive ? srcUri.key : srcObjects[0].key;
  const dstFor = (key: string) => destinationKey(key, srcPrefix, dstUri.key, recursive);
  const dstObjects = new Map<string, ObjectInfo>();
  if (recursive) {
    for (const o of await objectsOf(dst, dstUri, true)) dstObjects.set(o.key, o);
  } else {
    const info = await dst.head(dstFor(srcObjects[0].key));
    if (info) dstObjects.set(info.key, info);
  }
  const differences: VerifyDifference[] = [];
  let compared = 0;
  let downloaded = 0;
  const wanted = new Set<string>();
  const limit = pLimit(16);
  await Promise.all(
    srcObjects.map((s) =>
      limit(async () => {
        const dk = dstFor(s.key);
        wanted.add(dk);
        const d = dstObjects.get(dk);
        if (!d) {
          differences.push({
            key: s.key,
            problem: "missing",
            detail: `no ${dk} at the destination`,
          });
          return;
        }
        compared++;
        if (d.size !== s.size) {
          differences.push({
            key: s.key,
            problem: "size",
            detail: `${s.size} bytes, destination ${d.size}`,
          });
          return;
        }
        const same = await sameContent(src, s, dst, d);
        if (same.downloaded) downloaded++;
        if (same.difference)
          differences.push({ key: s.key, problem: "content", detail: same.difference });
      }),
    ),
  );
  if (recursive) {
    for (const k of dstObjects.keys())
      if (!wanted.has(k))
        differences.push({ key: k, problem: "extra", detail: "only at the destination" });
  }
  differences.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  return { compared, downloaded, differences };
}
