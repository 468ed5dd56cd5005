import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { homeLayout } from "../common/paths";
import {
  bucketUri,
  hasScheme,
  schemeProvider,
  splitStoreUri,
  StoreScheme,
} from "../common/schemes";
import { AzureStore } from "./azure";
import { GcsStore } from "./gcs";
import { LocalStore } from "./local";
import { S3Store } from "./s3";
import { ObjectStore, StoreError } from "./types";

export { bucketUri };

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
  /** Where cloud stores read credentials and endpoints; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Folders and local buckets list what symbolic links point to; default they skip links. */
  readonly followSymlinks?: boolean;
}

type Factory = (uri: StoreUri, ctx: StoreContext) => ObjectStore;

/**
 * URI scheme → adapter, one for every scheme of common/schemes.ts (the type makes sure). New clouds
 * register here; nothing else matches on URI strings.
 */
const FACTORIES: Record<StoreScheme, Factory> = {
  local: (uri, ctx) =>
    new LocalStore(uri.bucket, localBucketRoot(ctx, uri.bucket), undefined, {
      followSymlinks: ctx.followSymlinks,
    }),
  // A plain folder keeps skyplane's records under the home, not among the user's files.
  file: (uri, ctx) =>
    new LocalStore(path.basename(uri.bucket) || "/", uri.bucket, folderRecords(ctx, uri.bucket), {
      followSymlinks: ctx.followSymlinks,
    }),
  s3: (uri, ctx) => new S3Store(uri.bucket, {}, ctx.env),
  gs: (uri, ctx) => new GcsStore(uri.bucket, {}, ctx.env),
  azure: (uri, ctx) => new AzureStore(uri.bucket, {}, ctx.env),
};

/** Environment variables that point cloud stores at their services (passed on to gateways). */
export const STORE_ENV_VARS: readonly string[] = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
  "AWS_PROFILE",
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_S3",
  "STORAGE_EMULATOR_HOST",
  "GOOGLE_APPLICATION_CREDENTIALS",
  "GOOGLE_CLOUD_PROJECT",
  "AZURE_STORAGE_CONNECTION_STRING",
  "SKYPLANE_AZURE_AUTH",
  "SKYPLANE_AZURE_IMDS_ENDPOINT",
  "SKYPLANE_AZURE_BLOB_ENDPOINT",
];

/** The store variables set in `env`. */
export function storeEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(STORE_ENV_VARS.filter((k) => env[k]).map((k) => [k, env[k] as string]));
}

/** Records folder of a plain folder used as a bucket: `<home>/folders/<hash of its path>`. */
export function folderRecords(ctx: StoreContext, folder: string): string {
  return path.join(
    homeLayout(ctx.home).folders,
    crypto.createHash("sha256").update(folder).digest("hex").slice(0, 24),
  );
}

/** Folder of the local bucket `name`. */
export function localBucketRoot(ctx: StoreContext, name: string): string {
  return path.join(homeLayout(ctx.home).buckets, name);
}

/**
 * Parses `local://bucket/key`, `file:///abs/path` or a plain filesystem path (relative to `cwd`).
 * Throws a StoreError naming the accepted forms for anything else.
 */
export function parseStoreUri(uri: string, cwd = process.cwd()): StoreUri {
  if (!hasScheme(uri)) {
    if (uri === "")
      throw new StoreError("INVALID_URI", "an empty path is not a source or destination");
    return fileUri(path.resolve(cwd, uri));
  }
  const parts = splitStoreUri(uri);
  if ("problem" in parts) throw new StoreError("INVALID_URI", parts.problem);
  return parts.scheme === "file" ? fileUri(parts.bucket) : parts;
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
  return FACTORIES[uri.scheme as StoreScheme](uri, ctx);
}

/**
 * Makes the bucket a URI names in `region`, a region id of its scheme's provider (ObjectStore's
 * `createBucket`), and returns its store. A plain folder or a URI with a key is refused.
 */
export async function createBucket(
  uri: StoreUri,
  region: string,
  ctx: StoreContext,
): Promise<ObjectStore> {
  if (uri.key)
    throw new StoreError(
      "INVALID_URI",
      `${bucketUri(uri)}/${uri.key}: name a bucket, without a key`,
    );
  if (!schemeProvider(uri.scheme))
    throw new StoreError(
      "UNSUPPORTED",
      `${bucketUri(uri)}: a folder is made as it is written; make local://, s3://, gs:// or azure:// buckets`,
    );
  const store = openStore(uri, ctx);
  await store.createBucket(region);
  return store;
}
