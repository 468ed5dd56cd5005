import type { ArgumentsCamelCase, Argv } from "yargs";
import { runTransferCommand, TransferArgs, transferOptions } from "../transfer";

/** `skyplane cp SRC DST`: copies through provisioned gateways. */
export const command = "cp <src> <dst>";
/** One line for --help. */
export const describe = "Copy objects or folders, e.g. skyplane cp ./data local://b/data -r";

type CpArgs = TransferArgs & { recursive: boolean };

/** Options of `skyplane cp`. */
export function builder(y: Argv): Argv<CpArgs> {
  return transferOptions(
    y
      .positional("src", {
        type: "string",
        demandOption: true,
        describe: "Source: local://BUCKET/KEY, a folder or a file",
      })
      .positional("dst", {
        type: "string",
        demandOption: true,
        describe: "Destination: local://BUCKET/KEY or a folder",
      })
      .option("recursive", {
        alias: "r",
        type: "boolean",
        default: false,
        describe: "Copy everything under the source prefix",
      }),
  ) as unknown as Argv<CpArgs>;
}

/** Runs the copy. */
export async function handler(args: ArgumentsCamelCase<CpArgs>): Promise<void> {
  await runTransferCommand("copy", args);
}
