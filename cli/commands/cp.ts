import type { ArgumentsCamelCase, Argv } from "yargs";
import { LOCATIONS, runTransferCommand, TransferArgs, transferOptions } from "../transfer";

/** `skyplane cp SRC DST`: copies through provisioned gateways. */
export const command = "cp <src> <dst>";
/** One line for --help. */
export const describe =
  "Copy objects or folders between S3, GCS, Azure, local buckets and folders, e.g. skyplane cp ./data s3://b/data -r";

type CpArgs = TransferArgs & { recursive: boolean };

/** Options of `skyplane cp`. */
export function builder(y: Argv): Argv<CpArgs> {
  return transferOptions(
    y
      .positional("src", {
        type: "string",
        demandOption: true,
        describe: `What to copy (with -r: a prefix or folder): ${LOCATIONS}`,
      })
      .positional("dst", {
        type: "string",
        demandOption: true,
        describe: `Where to: ${LOCATIONS} (a missing folder is created)`,
      })
      .option("recursive", {
        alias: "r",
        type: "boolean",
        default: false,
        describe: "Copy everything under the source prefix",
      })
      .example("$0 cp s3://src-bucket/data gs://dst-bucket/data -r", "S3 to Google Cloud Storage")
      .example(
        "$0 cp ./data azure://account/container/data -r --dry-run",
        "A local folder to Azure Blob: show the plan only",
      ),
  ) as unknown as Argv<CpArgs>;
}

/** Runs the copy. */
export async function handler(args: ArgumentsCamelCase<CpArgs>): Promise<void> {
  await runTransferCommand("copy", args);
}
