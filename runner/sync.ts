import pLimit from "p-limit";
import { SkyplaneError } from "../errors";
import { listAll, ObjectInfo, ObjectStore } from "../stores/core";
import { destinationKey, ObjectPair } from "./chunker";
import { sameContent } from "./verify";

/** What a sync leaves alone or deletes; what it copies goes to the plan's listing. */
export interface SyncDiff {
  /** Destination keys with no source object (deleted only with --delete, after the copy). */
  readonly extra: string[];
  /** Objects already the same at both ends. */
  readonly same: number;
}

/** Source objects compared at once (their destination twins are read as the listings go). */
const WINDOW = 1000;

/** Orders keys as stores list them: UTF-8 byte order (code point order, unlike `<` on UTF-16). */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Fails when a store lists out of order: the merge below would take present objects for extras. */
function inOrder(store: ObjectStore, prev: string | undefined, key: string): string {
  if (prev !== undefined && byteOrder(prev, key) >= 0)
    throw new SkyplaneError(
      "UNSORTED_LISTING",
      `${store.scheme}://${store.bucket} listed ${JSON.stringify(key)} after ${JSON.stringify(prev)}: a store must list in byte order; this is a bug in its adapter`,
    );
  return key;
}

/**
 * Compares a source prefix with a destination prefix in one pass over each listing (both in key order,
 * merged as they stream, so that neither is held in memory): an object is copied when the destination
 * lacks it, or has another size, or other bytes (`sameContent`: the hashes both stores compute on an
 * algorithm they share, else both read and hashed). Every object to copy goes to `copy`, in key order.
 */
export async function diffSync(
  src: { store: ObjectStore; prefix: string },
  dst: { store: ObjectStore; prefix: string; exists: boolean },
  copy: (pair: ObjectPair) => void,
): Promise<SyncDiff> {
  const base = (k: string) => (k === "" || k.endsWith("/") ? k : k + "/");
  const srcBase = base(src.prefix);
  const dstBase = base(dst.prefix);
  const extra: string[] = [];
  let same = 0;
  // A destination folder that does not exist yet holds nothing.
  const there = dst.exists ? listAll(dst.store, dstBase)[Symbol.asyncIterator]() : undefined;
  let head: ObjectInfo | undefined;
  let lastDst: string | undefined;
  const advance = async () => {
    const next = there ? await there.next() : { done: true as const, value: undefined };
    head = next.done ? undefined : next.value;
    if (head) lastDst = inOrder(dst.store, lastDst, head.key);
  };
  await advance();

  type Entry = { pair: ObjectPair; source: ObjectInfo; twin?: ObjectInfo };
  let window: Entry[] = [];
  const limit = pLimit(16);
  const settle = async () => {
    const differs = await Promise.all(
      window.map((e) =>
        limit(async () => {
          if (!e.twin || e.twin.size !== e.pair.size) return true;
          return (
            (await sameContent(src.store, e.source, dst.store, e.twin)).difference !== undefined
          );
        }),
      ),
    );
    window.forEach((e, i) => (differs[i] ? copy(e.pair) : same++));
    window = [];
  };

  let lastSrc: string | undefined;
  for await (const o of listAll(src.store, srcBase)) {
    lastSrc = inOrder(src.store, lastSrc, o.key);
    const pair = {
      srcKey: o.key,
      dstKey: destinationKey(o.key, srcBase, dstBase, true),
      size: o.size,
      mode: o.mode,
    };
    while (head && byteOrder(head.key, pair.dstKey) < 0) {
      extra.push(head.key);
      await advance();
    }
    let twin: ObjectInfo | undefined;
    if (head && head.key === pair.dstKey) {
      twin = head;
      await advance();
    }
    window.push({ pair, source: o, twin });
    if (window.length >= WINDOW) await settle();
  }
  await settle();
  while (head) {
    extra.push(head.key);
    await advance();
  }
  return { extra, same };
}
