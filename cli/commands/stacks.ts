import type { ArgumentsCamelCase, Argv } from "yargs";
import { Engine, listStacks } from "../../runner";

/** `skyplane stacks`: the route stacks and what they hold. */
export const command = "stacks";
/** One line for --help. */
export const describe = "List skyplane's stacks (one per route) and whether gateways are up";

interface StacksArgs {
  json: boolean;
}

/** Options of `skyplane stacks`. */
export function builder(y: Argv): Argv<StacksArgs> {
  return y.option("json", { type: "boolean", default: false, describe: "Print JSON" });
}

/** Prints the stacks. */
export async function handler(args: ArgumentsCamelCase<StacksArgs>): Promise<void> {
  const stacks = await listStacks(await Engine.open());
  if (args.json) {
    process.stdout.write(JSON.stringify(stacks) + "\n");
    return;
  }
  if (stacks.length === 0) process.stdout.write("No stacks.\n");
  for (const s of stacks) {
    const state = s.lock
      ? s.lock.owner === "gone"
        ? "locked (owner gone)"
        : `locked (pid ${s.lock.pid})`
      : s.busy
        ? "busy"
        : s.warm && !s.warm.expired
          ? `warm until ${s.warm.until}`
          : s.warm
            ? `expired at ${s.warm.until}`
            : s.resources > 0
              ? `up (${s.resources} resources)`
              : "empty";
    process.stdout.write(`${s.name.padEnd(40)} ${state.padEnd(36)} ${s.lastUpdate ?? ""}\n`);
  }
}
