import type { ArgumentsCamelCase, Argv } from "yargs";
import { planDirect } from "../../planner/topology";
import { checkRegion, UserError } from "../../runner";
import { describePlan } from "../render";

/** `skyplane plan SRC_REGION DST_REGION`: the topology and its estimate; nothing is provisioned. */
export const command = "plan <src-region> <dst-region>";
/** One line for --help. */
export const describe =
  "Show the gateway topology and cost estimate for a route; provisions nothing";

interface PlanArgs {
  srcRegion: string;
  dstRegion: string;
  nVms: number;
  json: boolean;
}

/** Options of `skyplane plan`. */
export function builder(y: Argv): Argv<PlanArgs> {
  return y
    .positional("src-region", { type: "string", demandOption: true, describe: "e.g. local:east" })
    .positional("dst-region", { type: "string", demandOption: true, describe: "e.g. local:west" })
    .option("n-vms", { type: "number", default: 1, describe: "Gateways per region" })
    .option("json", {
      type: "boolean",
      default: false,
      describe: "Print the topology as JSON (the stack's config)",
    }) as unknown as Argv<PlanArgs>;
}

/** Prints the plan. */
export async function handler(args: ArgumentsCamelCase<PlanArgs>): Promise<void> {
  let topology;
  try {
    topology = planDirect({
      src: checkRegion(args.srcRegion),
      dst: checkRegion(args.dstRegion),
      nVms: args.nVms,
    });
  } catch (err) {
    if (err instanceof RangeError) throw new UserError("BAD_PLAN", err.message);
    throw err;
  }
  if (args.json) {
    process.stdout.write(JSON.stringify(topology, null, 2) + "\n");
    return;
  }
  process.stdout.write(
    describePlan(topology, 0, 0)
      .split("\n")
      .filter((l) => !l.startsWith("Moves:"))
      .join("\n") + "\n",
  );
  for (const g of topology.gateways)
    process.stdout.write(`  ${g.id} (${g.region}, ${g.vmClass})\n`);
  for (const e of topology.edges)
    process.stdout.write(`  ${e.from} → ${e.to}: ${e.connections} connections\n`);
}
