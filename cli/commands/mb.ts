import type { ArgumentsCamelCase, Argv } from "yargs";
import { checkRegion, SkyplaneClient, UserError } from "../../runner";
import { LocalStore, localBucketRoot, parseStoreUri, StoreError } from "../../stores";

/** `skyplane mb URI --region REGION`: makes a bucket. */
export const command = "mb <bucket>";
/** One line for --help. */
export const describe = "Make a bucket, e.g. skyplane mb local://my-bucket --region local:east";

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

/** Creates the bucket; an existing bucket in the same region is fine. */
export async function handler(args: ArgumentsCamelCase<MbArgs>): Promise<void> {
  const region = checkRegion(args.region);
  let uri;
  try {
    uri = parseStoreUri(args.bucket);
  } catch (err) {
    throw new UserError("INVALID_URI", (err as Error).message);
  }
  if (uri.scheme !== "local") {
    throw new UserError(
      "UNSUPPORTED",
      `${args.bucket}: this version makes local buckets only (local://NAME)`,
    );
  }
  if (uri.key) throw new UserError("INVALID_URI", `${args.bucket}: name a bucket, without a key`);
  if (!region.startsWith("local:"))
    throw new UserError("UNSUPPORTED", "a local bucket lives in a local region");
  const home = new SkyplaneClient().home;
  try {
    await LocalStore.createBucket(uri.bucket, localBucketRoot({ home }, uri.bucket), region);
  } catch (err) {
    if (err instanceof StoreError) throw new UserError(err.code, err.message);
    throw err;
  }
  if (args.json)
    process.stdout.write(JSON.stringify({ bucket: `local://${uri.bucket}`, region }) + "\n");
  else process.stdout.write(`Made local://${uri.bucket} in ${region}\n`);
}
