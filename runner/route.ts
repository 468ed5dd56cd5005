import { PlanError, planDirect } from "../planner/direct";
import { loadSolver } from "../planner/highs";
import { buildModel, parseGridCsv, parsePriceCsv } from "../planner/model";
import { planOverlay } from "../planner/overlay";
import { NetworkProfile, profileModelOptions } from "../planner/profile";
import { UnknownRegionError } from "../planner/regions";
import type { Topology } from "../planner/topology";
import { UserError } from "../errors";

/** A measured table as text, and the file it came from (named in its errors). */
export interface TableText {
  /** The file's name, for errors. */
  readonly file: string;
  /** Its contents. */
  readonly text: string;
}

/** What `skyplane plan REGION REGIONS` asks for: a route between regions, no buckets yet. */
export interface RouteRequest {
  /** Source region, e.g. aws:us-east-1. */
  readonly src: string;
  /** Destination regions (more than one: multicast). */
  readonly dsts: readonly string[];
  /** direct: `nVms` gateways per region; cost: cheapest meeting `minThroughputGbps`; throughput: fastest within `maxCostPerGB`. */
  readonly objective: "direct" | "cost" | "throughput";
  /** Gateways per region (direct). */
  readonly nVms?: number;
  /** Gbit/s every destination must get (cost). */
  readonly minThroughputGbps?: number;
  /** USD per GB at most (throughput). */
  readonly maxCostPerGB?: number;
  /** Gateways per region at most (overlay). */
  readonly maxVmsPerRegion?: number;
  /** A measured throughput grid (Skyplane's CSV). */
  readonly grid?: TableText;
  /** An egress price matrix (CSV: src,dest,cost). */
  readonly prices?: TableText;
  /** The local cloud's network profile: its links are the grid. */
  readonly profile?: NetworkProfile;
}

function parseTable<T>(
  table: TableText | undefined,
  parse: (text: string) => T[],
): T[] | undefined {
  if (!table) return undefined;
  try {
    return parse(table.text);
  } catch (err) {
    throw new UserError("BAD_TABLE", `${table.file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Plans a route's topology: the direct plan, or the cheapest or fastest overlay (MILP). */
export async function planRoute(req: RouteRequest): Promise<Topology> {
  const grid = parseTable(req.grid, parseGridCsv);
  const prices = parseTable(req.prices, parsePriceCsv);
  const model = buildModel(
    req.profile ? { ...profileModelOptions(req.profile), prices } : { grid, prices },
  );
  try {
    if (req.objective === "direct")
      return planDirect({ src: req.src, dsts: req.dsts, nVms: req.nVms }, model);
    return planOverlay(
      {
        src: req.src,
        dsts: req.dsts,
        objective: req.objective,
        minThroughputGbps: req.minThroughputGbps,
        maxCostPerGB: req.maxCostPerGB,
        maxVmsPerRegion: req.maxVmsPerRegion,
      },
      model,
      await loadSolver(),
    );
  } catch (err) {
    if (err instanceof PlanError || err instanceof UnknownRegionError)
      throw new UserError("BAD_PLAN", err.message, { cause: err });
    throw err;
  }
}
