import type { ArgumentsCamelCase, Argv } from "yargs";
import { makeBucket } from "../../runner";

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
  const made = await makeBucket(args.bucket, args.region);
  if (args.json) process.stdout.write(JSON.stringify(made) + "\n");
  else process.stdout.write(`Made ${made.bucket} in ${made.region}\n`);
}
