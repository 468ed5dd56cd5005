import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalStore } from "./local";
import { ObjectStore, StoreError } from "./types";

/** A parsed object-store URI. */
export interface StoreUri {
  /** `local` for local buckets, `file` for plain folders. */
  readonly scheme: string;
  /** Bucket name; for `file`, the absolute folder. */
  readonly bucket: string;
  /** Key or key prefix inside the bucket ("" for the whole bucket). */
  readonly key: string;
}

/** Where stores keep what they need to find on this machine. */
export interface StoreContext {
  /** The skyplane home; local buckets live in `<home>/buckets/<name>`. */
  readonly home: string;
}

type Factory = (uri: StoreUri, ctx: StoreContext) => ObjectStore;

/** URI scheme → adapter. New clouds register here; nothing else matches on URI strings. */
const FACTORIES: Record<string, Factory> = {
  local: (uri, ctx) => new LocalStore(uri.bucket, localBucketRoot(ctx, uri.bucket)),
  // A plain folder keeps skyplane's records under the home, not among the user's files.
  file: (uri, ctx) =>
    new LocalStore(path.basename(uri.bucket) || "/", uri.bucket, folderRecords(ctx, uri.bucket)),
};

/** Records folder of a plain folder used as a bucket: `<home>/folders/<hash of its path>`. */
export function folderRecords(ctx: StoreContext, folder: string): string {
  return path.join(
    ctx.home,
    "folders",
    crypto.createHash("sha256").update(folder).digest("hex").slice(0, 24),
  );
}

/** Folder of the local bucket `name`. */
export function localBucketRoot(ctx: StoreContext, name: string): string {
  return path.join(ctx.home, "buckets", name);
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses `local://bucket/key`, `file:///abs/path` or a plain filesystem path (relative to `cwd`).
 * Throws a StoreError naming the accepted forms for anything else.
 */
export function parseStoreUri(uri: string, cwd = process.cwd()): StoreUri {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(uri);
  if (!m) {
    if (uri === "")
      throw new StoreError("INVALID_URI", "an empty path is not a source or destination");
    return fileUri(path.resolve(cwd, uri));
  }
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  if (scheme === "file") {
    if (!rest.startsWith("/"))
      throw new StoreError("INVALID_URI", `${uri}: file:// URIs take an absolute path`);
    return fileUri(path.resolve(decodeURIComponent(rest)));
  }
  if (!(scheme in FACTORIES)) {
    throw new StoreError(
      "INVALID_URI",
      `${uri}: unknown scheme ${scheme}://; use local://BUCKET/KEY, file:///PATH or a folder path`,
    );
  }
  const slash = rest.indexOf("/");
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? "" : rest.slice(slash + 1);
  if (!BUCKET_NAME.test(bucket)) {
    throw new StoreError(
      "INVALID_URI",
      `${uri}: "${bucket}" is not a bucket name (3-63 characters: a-z, 0-9, '.', '-')`,
    );
  }
  return { scheme, bucket, key };
}

/** A folder is a bucket of its own; a file is a key in the folder that holds it. */
function fileUri(abs: string): StoreUri {
  let isFile = false;
  try {
    isFile = fs.statSync(abs).isFile();
  } catch {
    // missing: a folder to be created (a destination)
  }
  return isFile
    ? { scheme: "file", bucket: path.dirname(abs), key: path.basename(abs) }
    : { scheme: "file", bucket: abs, key: "" };
}

/** The store for a parsed URI. */
export function openStore(uri: StoreUri, ctx: StoreContext): ObjectStore {
  return FACTORIES[uri.scheme](uri, ctx);
}

/** The URI of a store's bucket, e.g. `local://b`. */
export function bucketUri(uri: StoreUri): string {
  return uri.scheme === "file" ? `file://${uri.bucket}` : `${uri.scheme}://${uri.bucket}`;
}
