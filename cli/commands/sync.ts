import type { ArgumentsCamelCase, Argv } from "yargs";
import { LOCATIONS, runTransferCommand, TransferArgs, transferOptions } from "../transfer";

/** `skyplane sync SRC DST`: copies what is missing or different. */
export const command = "sync <src> <dst>";
/** One line for --help. */
export const describe =
  "Make DST match SRC: copy objects that are missing or differ (size or checksum)";

type SyncArgs = TransferArgs & { delete: boolean };

/** Options of `skyplane sync`. */
export function builder(y: Argv): Argv<SyncArgs> {
  return transferOptions(
    y
      .positional("src", {
        type: "string",
        demandOption: true,
        describe: `Source prefix or folder: ${LOCATIONS}`,
      })
      .positional("dst", {
        type: "string",
        demandOption: true,
        describe: `Destination prefix or folder: ${LOCATIONS}`,
      })
      .option("delete", {
        type: "boolean",
        default: false,
        describe: "Delete destination objects missing at the source, after the copy succeeded",
      })
      .example("$0 sync gs://src-bucket/data s3://dst-bucket/data --dry-run", "What would change"),
  ) as unknown as Argv<SyncArgs>;
}

/** Runs the sync. */
export async function handler(args: ArgumentsCamelCase<SyncArgs>): Promise<void> {
  await runTransferCommand("sync", args);
}
