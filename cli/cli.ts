import yargs, { Argv } from "yargs";
import { EXIT, SkyplaneError, UserError } from "../errors";
import { InterruptedError } from "../runner";
import * as check from "./commands/check";
import * as cp from "./commands/cp";
import * as deprovision from "./commands/deprovision";
import * as mb from "./commands/mb";
import * as plan from "./commands/plan";
import * as profile from "./commands/profile";
import * as rpc from "./commands/rpc";
import * as stacks from "./commands/stacks";
import * as sync from "./commands/sync";
import * as verify from "./commands/verify";
import { debugEnabled } from "./debug";
import { exitStatus } from "./exit-status";

export { EXIT };

export { exitStatus };

/** `err`'s stack (or message), then each of its causes', one after the other; codes beside names. */
export function causeChain(err: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let e = err; e !== undefined && !seen.has(e); e = (e as { cause?: unknown })?.cause) {
    seen.add(e);
    let text = String(e);
    if (e instanceof Error) {
      const first = `${e.name}: ${e.message}`;
      const head = e instanceof SkyplaneError ? `${e.name} [${e.code}]: ${e.message}` : first;
      const stack = e.stack ?? first;
      text = stack.startsWith(first) ? head + stack.slice(first.length) : `${head}\n${stack}`;
    }
    parts.push(`${parts.length === 0 ? "" : "caused by: "}${text}`);
  }
  return parts.join("\n") + "\n";
}

/**
 * Formats an error for the terminal and returns the exit status its code has in ERRORS. With
 * SKYPLANE_DEBUG set, the cause chain and stacks follow.
 */
export function reportError(
  err: unknown,
  write: (s: string) => void = (s) => process.stderr.write(s),
  debug = debugEnabled(),
): number {
  const status = exitStatus(err);
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof InterruptedError) {
    write(`${message}; the gateways were released. Run the command again to copy the rest.\n`);
  } else if (status === EXIT.TRANSFER) {
    write(`error: ${message}\n`);
    write("No partial object was left at the destination; run the command again to retry.\n");
  } else if (status === EXIT.USER) {
    write(`error: ${message}\n`);
    if (!(err instanceof SkyplaneError))
      write(
        "Check the permissions and free space of that path (SKYPLANE_HOME moves skyplane's state).\n",
      );
  } else {
    const code = err instanceof SkyplaneError ? ` [${err.code}]` : "";
    write(`internal error${code}: ${message}\n`);
    if (!debug)
      write(
        "This is a bug or an engine failure; rerun with SKYPLANE_DEBUG=1 for its causes and stack, and report it with the output.\n",
      );
  }
  if (debug) write(causeChain(err));
  return status;
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
    .command(rpc)
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
