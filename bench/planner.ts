import * as fs from "node:fs";
import * as path from "node:path";
import { CatalogueRegion, catalogueRegion, distanceKm } from "../planner/catalogue";
import { planDirect } from "../planner/direct";
import { loadSolver } from "../planner/highs";
import {
  buildModel,
  estimateThroughputGbps,
  fitThroughput,
  GridRow,
  parseGridCsv,
  parsePriceCsv,
  requireRegion,
} from "../planner/model";
import { planOverlay } from "../planner/overlay";

/*
 * npm run bench:planner — four JSON lines:
 *   planner-model: how well the default throughput estimate (caps + distance) matches Skyplane's measured
 *     2022-11 grid: median and p90 absolute percentage error over every pair (target median ≤ 35%). The
 *     defaults were fitted to that grid, so this is in sample;
 *   planner-model-out-of-sample (twice): the estimate's parameters fitted to one grid (fitThroughput:
 *     a cap per provider pair and the distance decay) predict every measurement of the other grid, 2022-01
 *     → 2022-11 and 2022-11 → 2022-01, PREMIUM network tier at both ends only (2022-01 also measured GCP's
 *     STANDARD tier, which the planner does not plan for). Beside it, the baseline a user with the older
 *     grid has: its own measurement of the same pair (`--grid`), on the pairs both grids measured;
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
      sample: "in: the defaults were fitted to this grid",
      medianAbsPctError: Number((100 * quantile(errors, 0.5)).toFixed(1)),
      p90AbsPctError: Number((100 * quantile(errors, 0.9)).toFixed(1)),
      targetMedianPct: 35,
      medianAbsErrorByProviders: medians,
    }),
  );
}

/** Median and p90 absolute percentage error of predictions against measurements. */
function pctErrors(
  rows: readonly GridRow[],
  predict: (row: GridRow) => number,
): { rows: number; medianAbsPctError: number; p90AbsPctError: number } {
  const errors = rows.map((r) => Math.abs(predict(r) - r.gbps) / r.gbps).sort((x, y) => x - y);
  return {
    rows: errors.length,
    medianAbsPctError: Number((100 * quantile(errors, 0.5)).toFixed(1)),
    p90AbsPctError: Number((100 * quantile(errors, 0.9)).toFixed(1)),
  };
}

function outOfSample(grids: Record<string, GridRow[]>, fitOn: string, testOn: string): void {
  const fitRows = grids[fitOn];
  const testRows = grids[testOn];
  const params = fitThroughput(fitRows);
  const predict = (r: GridRow) =>
    estimateThroughputGbps(requireRegion(r.src), requireRegion(r.dst), params);
  // The older grid's own measurement of a pair (the mean where it measured a pair twice).
  const measured = new Map<string, number[]>();
  for (const r of fitRows)
    measured.set(`${r.src}>${r.dst}`, [...(measured.get(`${r.src}>${r.dst}`) ?? []), r.gbps]);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const seen = testRows.filter((r) => measured.has(`${r.src}>${r.dst}`));
  const unseen = testRows.filter((r) => !measured.has(`${r.src}>${r.dst}`));
  const clouds = ["aws", "gcp", "azure"];
  const out = pctErrors(testRows, predict);
  console.log(
    JSON.stringify({
      bench: "planner-model-out-of-sample",
      fitOn,
      testOn,
      method:
        "fitThroughput on fitOn's PREMIUM-tier rows (a cap per provider pair and the distance decay, least absolute log error); " +
        "its estimate compared with every PREMIUM-tier measurement of testOn",
      fitRows: fitRows.length,
      testRows: out.rows,
      medianAbsPctError: out.medianAbsPctError,
      p90AbsPctError: out.p90AbsPctError,
      targetMedianPct: 35,
      medianAbsPctErrorByProviders: Object.fromEntries(
        clouds.flatMap((a) =>
          clouds.map((b) => [
            `${a}>${b}`,
            pctErrors(
              testRows.filter(
                (r) => requireRegion(r.src).provider === a && requireRegion(r.dst).provider === b,
              ),
              predict,
            ).medianAbsPctError,
          ]),
        ),
      ),
      pairsNotInFitGrid: pctErrors(unseen, predict),
      inSample: pctErrors(fitRows, predict),
      baselineFitGridMeasurement: pctErrors(seen, (r) => mean(measured.get(`${r.src}>${r.dst}`)!)),
      modelOnThosePairs: pctErrors(seen, predict),
      fitted: {
        distanceScaleKm: Math.round(params.distanceScaleKm),
        distanceExponent: Number(params.distanceExponent.toFixed(3)),
        capGbps: Object.fromEntries(
          clouds.flatMap((a) =>
            clouds.map((b) => [`${a}>${b}`, Number(params.capGbps[`${a}>${b}`].toFixed(2))]),
          ),
        ),
      },
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
  const gridFile = (month: string) => path.join(DATA, `skyplane-throughput-${month}.csv`);
  for (const month of ["2022-01", "2022-11"]) {
    if (!fs.existsSync(gridFile(month)))
      throw new Error(`no grid at ${gridFile(month)}: set SKYPLANE_SHARED_DATA`);
  }
  const grid = parseGridCsv(fs.readFileSync(gridFile("2022-11"), "utf8"));
  const prices = parsePriceCsv(
    fs.readFileSync(path.join(DATA, "skyplane-egress-cost-2022-11.csv"), "utf8"),
  );
  modelAccuracy(grid);
  const premium = Object.fromEntries(
    ["2022-01", "2022-11"].map((m) => [
      m,
      parseGridCsv(fs.readFileSync(gridFile(m), "utf8"), { tier: "PREMIUM" }),
    ]),
  );
  outOfSample(premium, "2022-01", "2022-11");
  outOfSample(premium, "2022-11", "2022-01");
  await solveSpeed(grid, prices);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
