import { skyplaneHome } from "../common/paths";
import { gatewayRegionFor } from "../planner/regions";
import { bucketUri, createBucket, parseStoreUri, StoreError } from "../stores/core";
import { isUserError, UserError } from "../errors";
import { checkRegion } from "./client";

/*
 * Making buckets (`skyplane mb`): each store makes its own (ObjectStore's `createBucket`, through the
 * registry of schemes); here the region is checked against the catalogue, and store errors become
 * user errors.
 */

/** Where a bucket was made. */
export interface MadeBucket {
  /** Its URI, e.g. `s3://my-bucket`. */
  readonly bucket: string;
  /** Its region id, as given. */
  readonly region: string;
}

/**
 * A region id a bucket may be made in: a region of the catalogue, or one that catalogue regions serve
 * (GCS buckets live in regions, `gcp:us-central1`, or multi-regions, `gcp:us`; the catalogue lists
 * zones, `gcp:us-central1-a`). Anything else is a UserError UNKNOWN_REGION naming the valid ones.
 */
function bucketRegion(id: string): string {
  return gatewayRegionFor(id) ? id : checkRegion(id);
}

/**
 * Makes the bucket `uri` (local://B, s3://B, gs://B, azure://ACCOUNT/C) in `region` (e.g. aws:us-east-1).
 * A local bucket that exists in that region is kept; any other bucket that exists is a UserError
 * CONFLICT. Local buckets live under `home`; cloud stores take their credentials from `env`.
 */
export async function makeBucket(
  uri: string,
  region: string,
  opts: { home?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<MadeBucket> {
  try {
    const parsed = parseStoreUri(uri);
    const id = bucketRegion(region);
    await createBucket(parsed, id, { home: opts.home ?? skyplaneHome(), env: opts.env });
    return { bucket: bucketUri(parsed), region: id };
  } catch (err) {
    if (err instanceof StoreError && isUserError(err))
      throw new UserError(err.code, err.message, { cause: err });
    throw err;
  }
}
