import yargs, { Argv } from "yargs";
import { SkyplaneError, UserError } from "../errors";
import { GatewayUnreachableError, InterruptedError, TransferFailedError } from "../runner";
import * as check from "./commands/check";
import * as cp from "./commands/cp";
import * as deprovision from "./commands/deprovision";
import * as mb from "./commands/mb";
import * as plan from "./commands/plan";
import * as profile from "./commands/profile";
import * as stacks from "./commands/stacks";
import * as sync from "./commands/sync";
import * as verify from "./commands/verify";

/** Exit codes of the `skyplane` command. */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** The user's to fix: bad arguments, missing engine, buckets or credentials. */
  USER: 1,
  /** An internal error: a bug or an engine failure; the message says where the logs are. */
  INTERNAL: 2,
  /** The transfer failed (a gateway died, chunks failed); nothing partial is left at the destination. */
  TRANSFER: 3,
  /** Interrupted (Ctrl-C, SIGTERM): the transfer stopped, its uploads aborted, the gateways released. */
  INTERRUPTED: 130,
} as const;

/** Formats an error for the terminal and returns the exit code it maps to. */
export function reportError(
  err: unknown,
  write: (s: string) => void = (s) => process.stderr.write(s),
): number {
  if (err instanceof UserError) {
    write(`error: ${err.message}\n`);
    return EXIT.USER;
  }
  // The machine's, not ours: a folder the user cannot write, a full disk.
  const errno = (err as NodeJS.ErrnoException)?.code;
  if (errno && ["EACCES", "EPERM", "ENOSPC", "EROFS", "EDQUOT"].includes(errno)) {
    write(`error: ${(err as Error).message}\n`);
    write(
      "Check the permissions and free space of that path (SKYPLANE_HOME moves skyplane's state).\n",
    );
    return EXIT.USER;
  }
  if (err instanceof InterruptedError) {
    write(`${err.message}; the gateways were released. Run the command again to copy the rest.\n`);
    return EXIT.INTERRUPTED;
  }
  if (err instanceof TransferFailedError || err instanceof GatewayUnreachableError) {
    write(`error: ${err.message}\n`);
    write("No partial object was left at the destination; run the command again to retry.\n");
    return EXIT.TRANSFER;
  }
  const code = err instanceof SkyplaneError ? ` [${err.code}]` : "";
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  write(`internal error${code}: ${detail}\n`);
  write(
    "This is a bug or an engine failure; rerun with SKYPLANE_DEBUG=1 and report it with the output.\n",
  );
  return EXIT.INTERNAL;
}

/** The `skyplane` command line for `argv` (without node and script). */
export function buildCli(argv: string[]): Argv {
  return yargs(argv)
    .scriptName("skyplane")
    .command(cp)
    .command(sync)
    .command(verify)
    .command(mb)
    .command(plan)
    .command(profile)
    .command(stacks)
    .command(deprovision)
    .command(check)
    .demandCommand(1, "Name a command; see --help.")
    .strict()
    .help()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      if (err) {
        process.exitCode = reportError(err);
      } else {
        process.stderr.write(`error: ${msg}\nRun 'skyplane --help' for usage.\n`);
        process.exitCode = EXIT.USER;
      }
      throw err ?? new UserError("USAGE", msg);
    });
}
