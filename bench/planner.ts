import * as fs from "node:fs";
import * as path from "node:path";
import { CatalogueRegion, catalogueRegion, distanceKm } from "../planner/catalogue";
import { planDirect } from "../planner/direct";
import { loadSolver } from "../planner/highs";
import {
  buildModel,
  estimateThroughputGbps,
  GridRow,
  parseGridCsv,
  parsePriceCsv,
} from "../planner/model";
import { planOverlay } from "../planner/overlay";

/*
 * npm run bench:planner — two JSON lines:
 *   planner-model: how well the default throughput estimate (caps + distance) matches Skyplane's measured
 *     2022-11 grid: median and p90 absolute percentage error over every pair (target median ≤ 35%);
 *   planner-speed: the overlay MILP on that grid for 200 random region pairs, cost objective, with a
 *     throughput target the direct path cannot meet (1.5× one gateway pair): median and p99 solve time
 *     (targets 250 ms and 2 s), measured against planDirect in the same run as a baseline.
 * The data is read from ../shared/data (SKYPLANE_SHARED_DATA overrides); it is never copied here.
 */

const DATA =
  process.env.SKYPLANE_SHARED_DATA ?? path.resolve(__dirname, "..", "..", "..", "shared", "data");

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A small deterministic PRNG (mulberry32), so every run plans the same pairs. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function modelAccuracy(grid: GridRow[]): void {
  const errors: number[] = [];
  const byPair: Record<string, number[]> = {};
  for (const row of grid) {
    const a = catalogueRegion(row.src) as CatalogueRegion;
    const b = catalogueRegion(row.dst) as CatalogueRegion;
    const e = Math.abs(estimateThroughputGbps(a, b) - row.gbps) / row.gbps;
    errors.push(e);
    (byPair[`${a.provider}>${b.provider}`] ??= []).push(e);
  }
  errors.sort((x, y) => x - y);
  const medians = Object.fromEntries(
    Object.entries(byPair)
      .sort()
      .map(([k, v]) => [
        k,
        Number(
          quantile(
            v.sort((x, y) => x - y),
            0.5,
          ).toFixed(3),
        ),
      ]),
  );
  console.log(
    JSON.stringify({
      bench: "planner-model",
      pairs: errors.length,
      medianAbsPctError: Number((100 * quantile(errors, 0.5)).toFixed(1)),
      p90AbsPctError: Number((100 * quantile(errors, 0.9)).toFixed(1)),
      targetMedianPct: 35,
      medianAbsErrorByProviders: medians,
    }),
  );
}

async function solveSpeed(
  grid: GridRow[],
  prices: ReturnType<typeof parsePriceCsv>,
): Promise<void> {
  const regions = [...new Set(grid.map((r) => r.src))].sort();
  const model = buildModel({ grid, prices, regions });
  const solver = await loadSolver();
  const rand = prng(2026);
  const times: number[] = [];
  const directTimes: number[] = [];
  let relayed = 0;
  let infeasible = 0;
  const pairs = 200;
  for (let i = 0; i < pairs; i++) {
    const src = regions[Math.floor(rand() * regions.length)];
    let dst = src;
    while (dst === src) dst = regions[Math.floor(rand() * regions.length)];
    const t0 = process.hrtime.bigint();
    const direct = planDirect({ src, dsts: [dst] }, model);
    directTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const target = 1.5 * direct.estimate.throughputGbps;
    const t1 = process.hrtime.bigint();
    try {
      const plan = planOverlay(
        { src, dsts: [dst], objective: "cost", minThroughputGbps: target },
        model,
        solver,
      );
      if (plan.regions.length > 2) relayed++;
    } catch {
      infeasible++;
    }
    times.push(Number(process.hrtime.bigint() - t1) / 1e6);
  }
  times.sort((a, b) => a - b);
  directTimes.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      bench: "planner-speed",
      regions: regions.length,
      pairs,
      medianMs: Number(quantile(times, 0.5).toFixed(1)),
      p99Ms: Number(quantile(times, 0.99).toFixed(1)),
      targetMedianMs: 250,
      targetP99Ms: 2000,
      baselineDirectMedianMs: Number(quantile(directTimes, 0.5).toFixed(3)),
      plansWithRelays: relayed,
      infeasible,
      meanDistanceKm: Math.round(
        grid.reduce(
          (s, r) =>
            s +
            distanceKm(
              catalogueRegion(r.src) as CatalogueRegion,
              catalogueRegion(r.dst) as CatalogueRegion,
            ),
          0,
        ) / grid.length,
      ),
    }),
  );
}

async function main(): Promise<void> {
  const gridFile = path.join(DATA, "skyplane-throughput-2022-11.csv");
  if (!fs.existsSync(gridFile)) throw new Error(`no grid at ${gridFile}: set SKYPLANE_SHARED_DATA`);
  const grid = parseGridCsv(fs.readFileSync(gridFile, "utf8"));
  const prices = parsePriceCsv(
    fs.readFileSync(path.join(DATA, "skyplane-egress-cost-2022-11.csv"), "utf8"),
  );
  modelAccuracy(grid);
  await solveSpeed(grid, prices);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
