import * as fs from "node:fs";
import * as path from "node:path";
import { localBucketRoot, StoreContext, StoreUri } from "../stores/core";
import { UserError } from "../errors";

/*
 * A source and a destination overlap when one is a prefix of the other at a path-segment boundary:
 * `local://b/data` and `local://b/data/src` do, `local://b/data` and `local://b/database` do not.
 * Local buckets and folders are compared as real paths on this machine (after symbolic links), so a
 * folder reached through a link, or `local://b` named by its folder, is caught as well.
 */

/** How a source and a destination overlap. */
export type Overlap = "same" | "src-in-dst" | "dst-in-src";

/** Where a URI points, as a path-like string: a real path for local buckets and folders. */
function location(uri: StoreUri, ctx: StoreContext): string {
  const key = uri.key.replace(/\/+$/, "");
  if (uri.scheme === "file" || uri.scheme === "local") {
    const root = uri.scheme === "file" ? uri.bucket : localBucketRoot(ctx, uri.bucket);
    return realPath(key ? path.join(root, ...key.split("/")) : root);
  }
  return `${uri.scheme}://${uri.bucket}/${key}`.replace(/\/+$/, "");
}

/** `p` with its longest existing ancestor resolved to its real path (the rest may not exist yet). */
function realPath(p: string): string {
  const rest: string[] = [];
  let at = path.resolve(p);
  for (;;) {
    try {
      return path.join(fs.realpathSync(at), ...rest.reverse());
    } catch {
      const up = path.dirname(at);
      if (up === at) return path.join(at, ...rest.reverse());
      rest.push(path.basename(at));
      at = up;
    }
  }
}

/** True when `outer` is `inner` or one of its folders (at a segment boundary). */
function contains(outer: string, inner: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith("/") ? outer : outer + "/");
}

/** How `src` and `dst` overlap, or undefined when they are apart. */
export function overlapOf(src: StoreUri, dst: StoreUri, ctx: StoreContext): Overlap | undefined {
  const local = (u: StoreUri) => u.scheme === "file" || u.scheme === "local";
  if (!(local(src) && local(dst)) && (src.scheme !== dst.scheme || src.bucket !== dst.bucket))
    return undefined;
  const a = location(src, ctx);
  const b = location(dst, ctx);
  if (a === b) return "same";
  if (contains(b, a)) return "src-in-dst";
  if (contains(a, b)) return "dst-in-src";
  return undefined;
}

/** One line on how `src` (as the user wrote it) and `dst` overlap. */
export function describeOverlap(overlap: Overlap, src: string, dst: string): string {
  switch (overlap) {
    case "same":
      return `${src} and ${dst} are the same place`;
    case "src-in-dst":
      return `${src} is inside ${dst}`;
    case "dst-in-src":
      return `${dst} is inside ${src}`;
    default: {
      const never: never = overlap;
      return never;
    }
  }
}

/**
 * Checks a copy or sync for an overlapping source and destination: with `delete` it refuses (the
 * source's own objects would be extras at the destination, and deleted); otherwise it returns a
 * warning to show, or undefined.
 */
export function checkOverlap(
  req: { src: string; dst: string; delete?: boolean },
  srcUri: StoreUri,
  dstUri: StoreUri,
  ctx: StoreContext,
): string | undefined {
  const overlap = overlapOf(srcUri, dstUri, ctx);
  if (!overlap) return undefined;
  const what = describeOverlap(overlap, req.src, req.dst);
  if (req.delete) {
    throw new UserError(
      "OVERLAP",
      `${what}: sync --delete would delete the source's own objects (or the copies it just made); ` +
        "choose a destination outside the source and a source outside the destination, or sync without --delete",
    );
  }
  return (
    `${what}: the copy writes among the objects it reads, and a later run copies its own copies again; ` +
    "choose a destination outside the source"
  );
}
