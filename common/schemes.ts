import * as path from "node:path";
import type { Provider } from "./regions";

/*
 * Store URIs: `local://BUCKET/KEY`, `s3://BUCKET/KEY`, `gs://BUCKET/KEY`, `azure://ACCOUNT/CONTAINER/KEY`
 * (or its https://ACCOUNT.blob.core.windows.net/CONTAINER/KEY form) and `file:///PATH`, and which
 * provider's buckets each scheme names. This is their grammar only: stores/registry.ts opens a store for
 * a URI, and also takes plain folder paths.
 */

/** The scheme of each provider's buckets. */
export const PROVIDER_SCHEMES = {
  local: "local",
  aws: "s3",
  gcp: "gs",
  azure: "azure",
} as const satisfies Record<Provider, string>;

/** A scheme of store URIs: a provider's bucket scheme, or `file` (a folder of the client). */
export type StoreScheme = (typeof PROVIDER_SCHEMES)[Provider] | "file";

/** Every scheme a store URI may have (stores/registry.ts opens a store for each). */
export const STORE_SCHEMES: readonly StoreScheme[] = [...Object.values(PROVIDER_SCHEMES), "file"];

/** The provider whose buckets a scheme names (`s3` → `aws`); undefined for `file` and unknown schemes. */
export function schemeProvider(scheme: string): Provider | undefined {
  const found = Object.entries(PROVIDER_SCHEMES).find(([, s]) => s === scheme);
  return found?.[0] as Provider | undefined;
}

/** The parts of a store URI. */
export interface UriParts {
  /** `local` for local buckets, `file` for plain folders, `s3`, `gs`, `azure`. */
  readonly scheme: string;
  /** Bucket name; `ACCOUNT/CONTAINER` for azure; for `file`, the absolute folder or file. */
  readonly bucket: string;
  /** Key or key prefix inside the bucket ("" for the whole bucket; always "" for `file`). */
  readonly key: string;
}

/** What is wrong with a URI, in a sentence that names the accepted forms. */
export interface UriProblem {
  readonly problem: string;
}

const SCHEME_URI = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** True when `uri` starts with a scheme (`x://`); anything else is a plain path. */
export function hasScheme(uri: string): boolean {
  return SCHEME_URI.test(uri);
}

/**
 * Takes a `scheme://…` URI apart, or says what is wrong with it. A `file://` URI must hold an absolute
 * path (resolved and decoded here); an https URI must be an Azure blob URL.
 */
export function splitStoreUri(uri: string): UriParts | UriProblem {
  const m = SCHEME_URI.exec(uri);
  if (!m) return { problem: `${uri}: not a URI (scheme://…)` };
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  if (scheme === "file") {
    if (!rest.startsWith("/")) return { problem: `${uri}: file:// URIs take an absolute path` };
    return { scheme, bucket: path.resolve(decodeURIComponent(rest)), key: "" };
  }
  if (scheme === "https") {
    // https://ACCOUNT.blob.core.windows.net/CONTAINER/KEY is azure://ACCOUNT/CONTAINER/KEY
    const az = /^([a-z0-9]{3,24})\.blob\.core\.windows\.net\/(.*)$/.exec(rest);
    if (!az)
      return {
        problem: `${uri}: an https URI must be an Azure blob URL (https://ACCOUNT.blob.core.windows.net/CONTAINER/KEY)`,
      };
    return splitStoreUri(`azure://${az[1]}/${az[2]}`);
  }
  if (!(STORE_SCHEMES as readonly string[]).includes(scheme)) {
    return {
      problem: `${uri}: unknown scheme ${scheme}://; use local://BUCKET/KEY, s3://BUCKET/KEY, gs://BUCKET/KEY, azure://ACCOUNT/CONTAINER/KEY, file:///PATH or a folder path`,
    };
  }
  let bucketPart = rest;
  if (scheme === "azure") {
    const slash = rest.indexOf("/");
    if (slash < 0 || !/^[a-z0-9]{3,24}$/.test(rest.slice(0, slash))) {
      return {
        problem: `${uri}: write azure://ACCOUNT/CONTAINER/KEY (an account is 3-24 lowercase letters and digits)`,
      };
    }
    bucketPart = rest.slice(slash + 1);
  }
  const slash = bucketPart.indexOf("/");
  const name = slash < 0 ? bucketPart : bucketPart.slice(0, slash);
  const key = slash < 0 ? "" : bucketPart.slice(slash + 1);
  if (!BUCKET_NAME.test(name)) {
    return {
      problem: `${uri}: "${name}" is not a bucket name (3-63 characters: a-z, 0-9, '.', '-')`,
    };
  }
  const bucket = scheme === "azure" ? `${rest.slice(0, rest.indexOf("/"))}/${name}` : name;
  return { scheme, bucket, key };
}

/** The URI of a bucket (`local://b`, `azure://acct/c`, `file:///folder`). */
export function bucketUri(uri: { readonly scheme: string; readonly bucket: string }): string {
  return uri.scheme === "file" ? `file://${uri.bucket}` : `${uri.scheme}://${uri.bucket}`;
}
