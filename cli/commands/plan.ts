import * as fs from "node:fs";
import type { ArgumentsCamelCase, Argv } from "yargs";
import { stringify } from "yaml";
import { planRoute, TableText, Topology, UserError } from "../../runner";
import { describePlan } from "../render";
import { readProfile } from "../profile-file";
import { LOCATIONS, printTransferPlan } from "../transfer";

/**
 * `skyplane plan SRC DST[,DST2...]`: the topology of a route between regions and its estimate; or, given
 * a source and a destination to copy, the plan `cp --dry-run` prints. Nothing is provisioned.
 */
export const command = "plan <src> <dst>";
/** One line for --help. */
export const describe =
  "Plan a route's gateways (direct, cheapest or fastest overlay), or a copy (as cp --dry-run); provisions nothing";

interface PlanArgs {
  src: string;
  dst: string;
  recursive: boolean;
  objective: "direct" | "cost" | "throughput";
  minThroughput?: number;
  maxCostPerGb?: number;
  maxVms: number;
  nVms: number;
  grid?: string;
  prices?: string;
  profile?: string;
  format: "text" | "json" | "yaml" | "dot";
  json: boolean;
}

/** Options of `skyplane plan`. */
export function builder(y: Argv): Argv<PlanArgs> {
  return y
    .positional("src", {
      type: "string",
      demandOption: true,
      describe: `A region, e.g. aws:us-east-1; or what to copy: ${LOCATIONS}`,
    })
    .positional("dst", {
      type: "string",
      demandOption: true,
      describe:
        "Regions, one or more, comma-separated (multicast); or where to copy to (then as cp --dry-run)",
    })
    .option("recursive", {
      alias: "r",
      type: "boolean",
      default: false,
      describe: "With a source to copy: everything under its prefix",
    })
    .option("objective", {
      choices: ["direct", "cost", "throughput"] as const,
      default: "direct" as const,
      describe:
        "direct: N gateways per region; cost: cheapest meeting --min-throughput; throughput: fastest within --max-cost-per-gb",
    })
    .option("min-throughput", {
      type: "number",
      describe: "Gbit/s every destination must get (objective cost)",
    })
    .option("max-cost-per-gb", {
      type: "number",
      describe: "USD per GB at most (objective throughput)",
    })
    .option("max-vms", {
      type: "number",
      default: 8,
      describe: "Gateways per region at most (overlay)",
    })
    .option("n-vms", { type: "number", default: 1, describe: "Gateways per region (direct)" })
    .option("grid", {
      type: "string",
      describe: "Measured throughput grid CSV (Skyplane's format)",
    })
    .option("prices", { type: "string", describe: "Egress price matrix CSV: src,dest,cost" })
    .option("profile", {
      type: "string",
      describe: "Network profile (JSON) of the local cloud: its links are the grid",
    })
    .option("format", {
      choices: ["text", "json", "yaml", "dot"] as const,
      default: "text" as const,
      describe: "Output: text, json or yaml (the stack's topology), dot (Graphviz)",
    })
    .option("json", {
      type: "boolean",
      default: false,
      describe: "Same as --format json",
    }) as unknown as Argv<PlanArgs>;
}

/** A CSV file's text, or a UserError naming the file. */
function readTable(file: string | undefined, what: string): TableText | undefined {
  if (!file) return undefined;
  try {
    return { file, text: fs.readFileSync(file, "utf8") };
  } catch (err) {
    throw new UserError(
      "UNREADABLE",
      `cannot read the ${what} ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** A region id (`aws:us-east-1`), or a comma-separated list of them, as opposed to a URI or a path. */
function isRegionList(arg: string): boolean {
  return arg.split(",").every((r) => /^[a-z]+:[^/:]+$/.test(r.trim()));
}

/** The overlay as a Graphviz graph: regions with their gateways, links with Gbit/s. */
export function toDot(t: Topology): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    "digraph skyplane {",
    "  rankdir=LR;",
    `  label=${q(`${t.route.src} → ${t.route.dsts.join(", ")}: ${t.estimate.throughputGbps} Gbit/s, $${t.estimate.costPerGB.total}/GB`)};`,
  ];
  for (const r of t.regions) {
    const role =
      r.region === t.route.src
        ? "source"
        : t.route.dsts.includes(r.region)
          ? "destination"
          : "relay";
    lines.push(
      `  ${q(r.region)} [shape=box, label=${q(`${r.region}\n${r.gateways} × ${r.vmClass}\n${role}`)}];`,
    );
  }
  for (const l of t.links)
    lines.push(
      `  ${q(l.from)} -> ${q(l.to)} [label=${q(`${l.gbps} Gbit/s\n${l.connections} conns`)}];`,
    );
  lines.push("}");
  return lines.join("\n") + "\n";
}

/** Plans and prints. */
export async function handler(args: ArgumentsCamelCase<PlanArgs>): Promise<void> {
  if (!isRegionList(args.src) || !isRegionList(args.dst)) {
    // A copy: the same plan `cp --dry-run` prints (planned from the buckets' regions, direct).
    if (args.objective !== "direct" || args.grid || args.prices)
      throw new UserError(
        "BAD_PLAN",
        "a copy's plan is the direct plan between its buckets' regions: give regions (e.g. aws:us-east-1 gcp:us-central1-a) to plan an overlay with --objective, --grid or --prices",
      );
    return printTransferPlan("copy", {
      src: args.src,
      dst: args.dst,
      recursive: args.recursive,
      nVms: args.nVms,
      profile: args.profile,
      json: args.json || args.format === "json",
      followSymlinks: false,
      dryRun: true,
    });
  }
  const topology = await planRoute({
    src: args.src,
    dsts: args.dst
      .split(",")
      .map((d) => d.trim())
      .filter(Boolean),
    objective: args.objective,
    nVms: args.nVms,
    minThroughputGbps: args.minThroughput,
    maxCostPerGB: args.maxCostPerGb,
    maxVmsPerRegion: args.maxVms,
    grid: readTable(args.grid, "throughput grid"),
    prices: readTable(args.prices, "price matrix"),
    profile: readProfile(args.profile),
  });
  const format = args.json ? "json" : args.format;
  if (format === "json") process.stdout.write(JSON.stringify(topology, null, 2) + "\n");
  else if (format === "yaml") process.stdout.write(stringify(topology));
  else if (format === "dot") process.stdout.write(toDot(topology));
  else process.stdout.write(describePlan(topology) + "\n");
}
