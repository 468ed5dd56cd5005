import type { ArgumentsCamelCase, Argv } from "yargs";
import { SkyplaneClient } from "../../runner";

/** `skyplane verify SRC DST`: compares two places like `rclone check`. */
export const command = "verify <src> <dst>";
/** One line for --help. */
export const describe =
  "Compare keys, sizes and the stores' checksums of SRC and DST; exit 1 on any difference";

interface VerifyArgs {
  src: string;
  dst: string;
  recursive: boolean;
  json: boolean;
}

/** Options of `skyplane verify`. */
export function builder(y: Argv): Argv<VerifyArgs> {
  return y
    .positional("src", { type: "string", demandOption: true, describe: "Source URI or folder" })
    .positional("dst", {
      type: "string",
      demandOption: true,
      describe: "Destination URI or folder",
    })
    .option("recursive", {
      alias: "r",
      type: "boolean",
      default: false,
      describe: "Compare everything under the prefixes",
    })
    .option("json", {
      type: "boolean",
      default: false,
      describe: "Print JSON",
    }) as unknown as Argv<VerifyArgs>;
}

/** Compares and prints what differs; exit code 1 when anything does. */
export async function handler(args: ArgumentsCamelCase<VerifyArgs>): Promise<void> {
  const report = await new SkyplaneClient().verify(args);
  if (args.json) {
    process.stdout.write(JSON.stringify(report) + "\n");
  } else {
    for (const d of report.differences)
      process.stdout.write(`${d.problem.padEnd(8)} ${d.key}: ${d.detail}\n`);
    process.stdout.write(
      `${report.compared} object(s) compared (${report.downloaded} by downloading), ` +
        `${report.differences.length} difference(s)\n`,
    );
  }
  if (report.differences.length > 0) process.exitCode = 1;
}
