import type { ArgumentsCamelCase, Argv } from "yargs";
import { parseRegion, PROVIDER_SCHEMES, schemeProvider } from "../../common";
import {
  AzureStore,
  bucketUri,
  checkRegion,
  gatewayRegionFor,
  GcsStore,
  LocalStore,
  localBucketRoot,
  parseStoreUri,
  S3Store,
  SkyplaneClient,
  StoreError,
  UserError,
} from "../../runner";

/** `skyplane mb URI --region REGION`: makes a bucket. */
export const command = "mb <bucket>";
/** One line for --help. */
export const describe =
  "Make a bucket: local://B --region local:east, s3://B --region aws:us-east-1, gs://B --region gcp:us-central1, azure://ACCOUNT/C --region azure:eastus";

interface MbArgs {
  bucket: string;
  region: string;
  json: boolean;
}

/** Options of `skyplane mb`. */
export function builder(y: Argv): Argv<MbArgs> {
  return y
    .positional("bucket", {
      type: "string",
      demandOption: true,
      describe: "Bucket URI, e.g. local://my-bucket",
    })
    .option("region", {
      type: "string",
      demandOption: true,
      describe: "Region of the bucket, e.g. local:east",
    })
    .option("json", {
      type: "boolean",
      default: false,
      describe: "Print the result as JSON",
    }) as Argv<MbArgs>;
}

/** Creates the bucket; an existing local bucket in the same region is fine. */
export async function handler(args: ArgumentsCamelCase<MbArgs>): Promise<void> {
  let uri;
  try {
    uri = parseStoreUri(args.bucket);
  } catch (err) {
    throw new UserError("INVALID_URI", (err as Error).message);
  }
  if (uri.key) throw new UserError("INVALID_URI", `${args.bucket}: name a bucket, without a key`);
  const provider = schemeProvider(uri.scheme);
  if (!provider)
    throw new UserError(
      "UNSUPPORTED",
      `${args.bucket}: mb makes local://, s3://, gs:// and azure:// buckets`,
    );
  // GCS buckets live in regions (gcp:us-central1) or multi-regions (gcp:us); the catalogue lists zones
  // (gcp:us-central1-a), and the planner knows which of them serves each.
  const region =
    uri.scheme === PROVIDER_SCHEMES.gcp && gatewayRegionFor(args.region)
      ? args.region
      : checkRegion(args.region);
  const { provider: regionProvider, name, region: cloudRegion } = parseRegion(region);
  if (regionProvider !== provider) {
    throw new UserError(
      "BAD_REGION",
      `${args.bucket} needs a ${provider} region (${provider}:…), not ${region}`,
    );
  }
  const client = new SkyplaneClient();
  try {
    if (uri.scheme === "local")
      await LocalStore.createBucket(
        uri.bucket,
        localBucketRoot({ home: client.home }, uri.bucket),
        region,
      );
    else if (uri.scheme === "s3") await new S3Store(uri.bucket).create(name);
    else if (uri.scheme === "gs") await new GcsStore(uri.bucket).create(cloudRegion.toUpperCase());
    else await new AzureStore(uri.bucket).create();
  } catch (err) {
    if (err instanceof StoreError) throw new UserError(err.code, err.message);
    throw err;
  }
  const made = bucketUri(uri);
  if (args.json) process.stdout.write(JSON.stringify({ bucket: made, region }) + "\n");
  else process.stdout.write(`Made ${made} in ${region}\n`);
}
