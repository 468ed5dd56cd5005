import * as fs from "node:fs";
import type { ArgumentsCamelCase, Argv } from "yargs";
import { stringify } from "yaml";
import {
  buildModel,
  GridRow,
  loadSolver,
  parseGridCsv,
  parsePriceCsv,
  PlanError,
  planDirect,
  planOverlay,
  PriceRow,
  profileModelOptions,
  Topology,
  UnknownRegionError,
  UserError,
} from "../../runner";
import { describePlan } from "../render";
import { readProfile } from "../profile-file";

/** `skyplane plan SRC DST[,DST2...]`: the topology and its estimate; nothing is provisioned. */
export const command = "plan <src-region> <dst-regions>";
/** One line for --help. */
export const describe =
  "Plan a route's gateways (direct, cheapest or fastest overlay); provisions nothing";

interface PlanArgs {
  srcRegion: string;
  dstRegions: string;
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
    .positional("src-region", {
      type: "string",
      demandOption: true,
      describe: "e.g. aws:us-east-1",
    })
    .positional("dst-regions", {
      type: "string",
      demandOption: true,
      describe: "One or more, comma-separated (multicast)",
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

function readTable<T>(
  file: string | undefined,
  parse: (text: string) => T[],
  what: string,
): T[] | undefined {
  if (!file) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new UserError(
      "UNREADABLE",
      `cannot read the ${what} ${file}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  try {
    return parse(text);
  } catch (err) {
    throw new UserError("BAD_TABLE", `${file}: ${(err as Error).message}`, { cause: err });
  }
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
  const grid = readTable<GridRow>(args.grid, parseGridCsv, "throughput grid");
  const prices = readTable<PriceRow>(args.prices, parsePriceCsv, "price matrix");
  const profile = readProfile(args.profile);
  const model = buildModel(
    profile ? { ...profileModelOptions(profile), prices } : { grid, prices },
  );
  const req = {
    src: args.srcRegion,
    dsts: args.dstRegions
      .split(",")
      .map((d) => d.trim())
      .filter(Boolean),
  };
  let topology: Topology;
  try {
    if (args.objective === "direct") {
      topology = planDirect({ ...req, nVms: args.nVms }, model);
    } else {
      topology = planOverlay(
        {
          ...req,
          objective: args.objective,
          minThroughputGbps: args.minThroughput,
          maxCostPerGB: args.maxCostPerGb,
          maxVmsPerRegion: args.maxVms,
        },
        model,
        await loadSolver(),
      );
    }
  } catch (err) {
    if (err instanceof PlanError || err instanceof UnknownRegionError)
      throw new UserError("BAD_PLAN", err.message, { cause: err });
    throw err;
  }
  const format = args.json ? "json" : args.format;
  if (format === "json") process.stdout.write(JSON.stringify(topology, null, 2) + "\n");
  else if (format === "yaml") process.stdout.write(stringify(topology));
  else if (format === "dot") process.stdout.write(toDot(topology));
  else process.stdout.write(describePlan(topology) + "\n");
}
