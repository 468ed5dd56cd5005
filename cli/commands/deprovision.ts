import type { ArgumentsCamelCase, Argv } from "yargs";
import { deprovisionStack, Engine, goneLockText, listStacks, UserError } from "../../runner";
import { confirm } from "../render";

/** `skyplane deprovision [STACK]`: destroys one route's gateways, or every route's. */
export const command = "deprovision [stack]";
/** One line for --help. */
export const describe = "Tear down gateways: destroy one stack, or all skyplane stacks";

interface DeprovisionArgs {
  stack?: string;
  y: boolean;
  json: boolean;
  force: boolean;
}

/** Options of `skyplane deprovision`. */
export function builder(y: Argv): Argv<DeprovisionArgs> {
  return y
    .positional("stack", {
      type: "string",
      describe: "The route's stack, e.g. local-east--local-west; default all",
    })
    .option("y", { type: "boolean", default: false, describe: "Do not ask for confirmation" })
    .option("force", {
      type: "boolean",
      default: false,
      describe: "Destroy even a stack that a running skyplane job holds",
    })
    .option("json", {
      type: "boolean",
      default: false,
      describe: "Print JSON",
    }) as unknown as Argv<DeprovisionArgs>;
}

/** Destroys the stacks. */
export async function handler(args: ArgumentsCamelCase<DeprovisionArgs>): Promise<void> {
  const engine = await Engine.open();
  const all = (await listStacks(engine)).map((s) => s.name);
  if (args.stack && !all.includes(args.stack)) {
    throw new UserError(
      "NO_SUCH_STACK",
      `no stack ${args.stack}; 'skyplane stacks' lists them: ${all.join(", ") || "none"}`,
    );
  }
  const names = args.stack ? [args.stack] : all;
  if (names.length === 0) {
    process.stdout.write(args.json ? "[]\n" : "No stacks to deprovision.\n");
    return;
  }
  if (!(await confirm(`Destroy ${names.join(", ")}?`, args.y))) return;
  const results = [];
  // Stacks a running update (STACK_LOCKED) or job (ROUTE_BUSY) holds: the others are still destroyed.
  const refused: UserError[] = [];
  for (const name of names) {
    let r;
    try {
      r = await deprovisionStack(engine, name, undefined, {
        force: args.force,
        onLockRemoved: (lock) => {
          // Said before the destroy starts, and also with --json (on stderr then).
          const out = args.json ? process.stderr : process.stdout;
          out.write(`stack ${name} ${goneLockText(lock)}: lock removed\n`);
        },
      });
    } catch (err) {
      if (!(err instanceof UserError && ["STACK_LOCKED", "ROUTE_BUSY"].includes(err.code)))
        throw err;
      refused.push(err);
      continue;
    }
    results.push({ stack: name, ...r });
    if (!args.json) {
      const strays = r.strays ? `, stopped ${r.strays} stray gateway(s)` : "";
      const work = r.workFiles ? `, removed ${r.workFiles} work file(s) of killed writes` : "";
      process.stdout.write(`${name}: destroyed ${r.destroyed} resource(s)${strays}${work}\n`);
    }
  }
  if (args.json) process.stdout.write(JSON.stringify(results) + "\n");
  if (refused.length > 0) {
    throw new UserError(refused[0].code, refused.map((e) => e.message).join("\n"));
  }
}
