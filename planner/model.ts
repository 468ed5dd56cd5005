import { CATALOGUE, CatalogueRegion, catalogueRegion, distanceKm } from "./catalogue";
import { listEgressPerGB, VM_CLASSES, VmClass } from "./prices";
import { parseRegion } from "../common/regions";
import { knownRegion } from "./regions";
import { UserError } from "../errors";

/*
 * The network and price model the planners read. Everything is a parameter: the default estimate
 * below, a measured grid and a price matrix (parsed from CSV text by the caller) override it pair by
 * pair. Throughput is what one pair of 32-vCPU gateways moves over 64 connections, as Skyplane measured.
 */

/** TCP connections one gateway VM opens at most (Skyplane's measurements used 64). */
export const CONNECTIONS_PER_VM = 64;

/**
 * Per-VM caps in Gbit/s of the 32-vCPU reference classes, fitted to Skyplane's 2022-11 grid: AWS limits
 * traffic leaving a region to 5 Gbit/s per instance; inside GCP an n2-standard-32 sends and receives
 * 32 Gbit/s, to other clouds 7; Azure reaches 16 inside Azure, and the grid shows ~5 to other clouds. (Skyplane's own
 * planner assumed egress aws 5, gcp 7, azure 16; ingress aws 10, gcp 16, azure 16.) The local cloud's
 * loopback is capped at 10 by default; a network profile sets it.
 */
const EGRESS_INTRA: Record<string, number> = { aws: 5, gcp: 32, azure: 16, local: 10 };
const EGRESS_INTER: Record<string, number> = { aws: 5, gcp: 7, azure: 5, local: 10 };
const INGRESS: Record<string, number> = { aws: 10, gcp: 32, azure: 16, local: 10 };

/**
 * How throughput falls with distance, fitted to the 2022-11 grid: long paths have long round trips, and
 * a TCP connection's rate is its window over its round-trip time. (bench/planner.ts measures the
 * estimate in and out of sample.)
 */
const DISTANCE_SCALE_KM = 30_000;
const DISTANCE_EXPONENT = 0.75;

/**
 * The parameters of the throughput estimate between two regions a grid does not measure:
 * `cap / (1 + (distance / scale)^exponent)`, where the cap belongs to the ordered pair of providers.
 */
export interface ThroughputParams {
  /** Gbit/s between one reference gateway in each region at no distance, keyed `aws>gcp`. */
  readonly capGbps: Readonly<Record<string, number>>;
  /** Distance at which throughput has halved, km. */
  readonly distanceScaleKm: number;
  /** How steeply it falls beyond that. */
  readonly distanceExponent: number;
}

const PROVIDERS = Object.keys(INGRESS);

/** The default estimate: each provider pair's cap is the lower of the sender's egress and the receiver's ingress. */
export const DEFAULT_THROUGHPUT: ThroughputParams = {
  capGbps: Object.fromEntries(
    PROVIDERS.flatMap((a) =>
      PROVIDERS.map((b) => [
        `${a}>${b}`,
        Math.min(a === b ? EGRESS_INTRA[a] : EGRESS_INTER[a], INGRESS[b]),
      ]),
    ),
  ),
  distanceScaleKm: DISTANCE_SCALE_KM,
  distanceExponent: DISTANCE_EXPONENT,
};

/** One row of a measured throughput grid. */
export interface GridRow {
  readonly src: string;
  readonly dst: string;
  /** Gbit/s received with 64 connections between one gateway in each region. */
  readonly gbps: number;
}

/** One row of a price matrix. */
export interface PriceRow {
  readonly src: string;
  readonly dst: string;
  /** USD per GB. */
  readonly cost: number;
}

/** What the planners know about regions, links and prices. */
export interface PlannerModel {
  /** Regions that may host gateways (relays are chosen among them). */
  readonly regions: readonly CatalogueRegion[];
  /** Gbit/s between one reference gateway in `src` and one in `dst`, over 64 connections. */
  throughputGbps(src: string, dst: string): number;
  /** USD per GB sent from `src` to `dst`. */
  egressPerGB(src: string, dst: string): number;
  /** Egress cap of one reference gateway in `src` sending to `dst`, Gbit/s. */
  egressCapGbps(src: string, dst: string): number;
  /** Ingress cap of one reference gateway in `dst`, Gbit/s. */
  ingressCapGbps(dst: string): number;
  /** vCPUs a region's quota allows for gateways. */
  quotaVcpus(region: string): number;
  /** Gateway classes of a provider, largest first. */
  vmClasses(provider: string): readonly VmClass[];
  /**
   * True when a link's rate is shared by all gateways of its two regions (a shaped link of the local
   * cloud), false when each gateway pair gets the grid rate with 64 connections (the clouds).
   */
  readonly aggregateLinks: boolean;
}

/** The catalogue entry of a region id; an UnknownRegionError names valid ones. */
export function requireRegion(id: string): CatalogueRegion {
  knownRegion(id);
  return catalogueRegion(id) as CatalogueRegion;
}

/** The throughput estimate between two regions from their providers' cap and their distance. */
export function estimateThroughputGbps(
  a: CatalogueRegion,
  b: CatalogueRegion,
  params: ThroughputParams = DEFAULT_THROUGHPUT,
): number {
  const cap =
    params.capGbps[`${a.provider}>${b.provider}`] ??
    DEFAULT_THROUGHPUT.capGbps[`${a.provider}>${b.provider}`];
  return cap / (1 + Math.pow(distanceKm(a, b) / params.distanceScaleKm, params.distanceExponent));
}

/** The median of numbers sorted in place. */
function medianInPlace(xs: Float64Array): number {
  xs.sort();
  const m = xs.length >> 1;
  return xs.length % 2 ? xs[m] : (xs[m - 1] + xs[m]) / 2;
}

/**
 * Fits the estimate's parameters to a measured grid, by least absolute error of log throughput (a
 * relative error, robust to the odd bad measurement): for each candidate scale and exponent, each
 * provider pair's cap is the median of what its measurements imply, and the candidate with the least
 * total error wins (a grid search over scale 1,000–200,000 km and exponent 0.25–4, then a finer one
 * around the best). Provider pairs the grid does not measure keep the default cap. Rows whose regions
 * are not in the catalogue throw, naming them.
 */
export function fitThroughput(grid: readonly GridRow[]): ThroughputParams {
  if (grid.length === 0)
    throw new UserError("BAD_TABLE", "fitting the throughput estimate needs a non-empty grid");
  const groups = new Map<string, { logGbps: number[]; km: number[] }>();
  for (const row of grid) {
    const a = requireRegion(row.src);
    const b = requireRegion(row.dst);
    const key = `${a.provider}>${b.provider}`;
    const g = groups.get(key) ?? { logGbps: [], km: [] };
    groups.set(key, g);
    g.logGbps.push(Math.log(row.gbps));
    g.km.push(distanceKm(a, b));
  }
  const scratch = new Float64Array(Math.max(...[...groups.values()].map((g) => g.km.length)));
  /** Each group's log cap (the median of implied log caps) and the total absolute log error. */
  const evaluate = (scale: number, exponent: number) => {
    let error = 0;
    const logCaps: Record<string, number> = {};
    for (const [key, g] of groups) {
      const implied = scratch.subarray(0, g.km.length);
      for (let i = 0; i < g.km.length; i++)
        implied[i] = g.logGbps[i] + Math.log1p(Math.pow(g.km[i] / scale, exponent));
      const logCap = medianInPlace(implied);
      logCaps[key] = logCap;
      for (let i = 0; i < implied.length; i++) error += Math.abs(implied[i] - logCap);
    }
    return { error, logCaps };
  };
  type Candidate = {
    scale: number;
    exponent: number;
    error: number;
    logCaps: Record<string, number>;
  };
  const search = (scales: number[], exponents: number[], best?: Candidate): Candidate => {
    for (const scale of scales) {
      for (const exponent of exponents) {
        const r = evaluate(scale, exponent);
        if (!best || r.error < best.error) best = { scale, exponent, ...r };
      }
    }
    return best as Candidate;
  };
  const steps = (from: number, to: number, n: number, log: boolean) =>
    Array.from({ length: n + 1 }, (_, i) =>
      log ? from * Math.pow(to / from, i / n) : from + ((to - from) * i) / n,
    );
  const coarse = search(steps(1_000, 200_000, 60, true), steps(0.25, 4, 75, false));
  const ratio = Math.pow(200, 1 / 60);
  const fine = search(
    steps(coarse.scale / ratio, coarse.scale * ratio, 20, true),
    steps(Math.max(0.05, coarse.exponent - 0.05), coarse.exponent + 0.05, 20, false),
    coarse,
  );
  return {
    capGbps: {
      ...DEFAULT_THROUGHPUT.capGbps,
      ...Object.fromEntries(Object.entries(fine.logCaps).map(([k, v]) => [k, Math.exp(v)])),
    },
    distanceScaleKm: fine.scale,
    distanceExponent: fine.exponent,
  };
}

/** Options of `buildModel`. */
export interface ModelOptions {
  /** Measured throughput; pairs it has replace the estimate. */
  readonly grid?: readonly GridRow[];
  /** Measured prices; pairs it has replace the list prices. */
  readonly prices?: readonly PriceRow[];
  /** vCPU quota per region id (or per provider, e.g. "aws"); default unlimited. */
  readonly quotas?: Readonly<Record<string, number>>;
  /** Restrict the regions (relays included) to these ids. */
  readonly regions?: readonly string[];
  /** Per-region gateway caps that replace the provider's (a network profile's), Gbit/s. */
  readonly caps?: Readonly<
    Record<string, { readonly egressGbps: number; readonly ingressGbps: number }>
  >;
  /** Throughput of pairs the grid lacks; default the estimate. A profile says 0: no link. */
  readonly missingLinkGbps?: number;
  /** Links are shared by all gateways of a region pair (a shaped local link). Default false. */
  readonly aggregateLinks?: boolean;
}

/** A planner model from the defaults and whatever measured tables are given. */
export function buildModel(opts: ModelOptions = {}): PlannerModel {
  const grid = new Map((opts.grid ?? []).map((r) => [`${r.src} ${r.dst}`, r.gbps]));
  const prices = new Map((opts.prices ?? []).map((r) => [`${r.src} ${r.dst}`, r.cost]));
  const regions = opts.regions
    ? opts.regions.map(requireRegion)
    : CATALOGUE.filter((r) => r.provider !== "local");
  return {
    regions,
    throughputGbps: (src, dst) =>
      grid.get(`${src} ${dst}`) ?? estimateThroughputGbps(requireRegion(src), requireRegion(dst)),
    egressPerGB: (src, dst) =>
      prices.get(`${src} ${dst}`) ?? listEgressPerGB(requireRegion(src), requireRegion(dst)),
    egressCapGbps: (src, dst) => {
      const own = opts.caps?.[src]?.egressGbps;
      if (own !== undefined) return own;
      const a = requireRegion(src);
      return a.provider === requireRegion(dst).provider
        ? EGRESS_INTRA[a.provider]
        : EGRESS_INTER[a.provider];
    },
    ingressCapGbps: (dst) => opts.caps?.[dst]?.ingressGbps ?? INGRESS[requireRegion(dst).provider],
    quotaVcpus: (region) =>
      opts.quotas?.[region] ?? opts.quotas?.[parseRegion(region).provider] ?? Infinity,
    vmClasses: (provider) => VM_CLASSES.filter((c) => c.provider === provider),
    aggregateLinks: opts.aggregateLinks ?? false,
  };
}

/**
 * Parses a throughput grid in the CSV format of Skyplane's measurements (received bits per second).
 * `tier` keeps only rows measured with that network tier at both ends (the 2022-01 grid also measured
 * GCP's STANDARD tier); by default every row is kept.
 */
export function parseGridCsv(text: string, opts: { tier?: string } = {}): GridRow[] {
  const [head, ...lines] = text.trim().split(/\r?\n/);
  const cols = head.split(",");
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0)
      throw new UserError(
        "BAD_TABLE",
        `the grid has no column ${name} (columns: ${cols.join(", ")})`,
      );
    return i;
  };
  const [src, dst, rx, ok] = [
    at("src_region"),
    at("dst_region"),
    at("throughput_received_bps"),
    cols.indexOf("success"),
  ];
  const tiers = opts.tier === undefined ? undefined : [at("src_tier"), at("dst_tier")];
  return lines
    .map((l, n) => ({ f: l.split(","), line: n + 2 }))
    .filter(({ f }) => ok < 0 || f[ok] !== "False")
    .filter(({ f }) => !tiers || tiers.every((i) => f[i] === opts.tier))
    .map(({ f, line }) => {
      const gbps = Number(f[rx]) / 1e9;
      if (!Number.isFinite(gbps) || gbps <= 0)
        throw new UserError("BAD_TABLE", `grid line ${line}: bad throughput ${f[rx]}`);
      return { src: f[src], dst: f[dst], gbps };
    });
}

/** Parses a price matrix `src,dest,cost` (USD per GB). */
export function parsePriceCsv(text: string): PriceRow[] {
  const [head, ...lines] = text.trim().split(/\r?\n/);
  if (!/^src,dest?,cost$/.test(head.trim()))
    throw new UserError("BAD_TABLE", `a price matrix starts with "src,dest,cost", not "${head}"`);
  return lines.map((l, n) => {
    const [src, dst, cost] = l.split(",");
    if (!Number.isFinite(Number(cost)))
      throw new UserError("BAD_TABLE", `price line ${n + 2}: bad cost ${cost}`);
    return { src, dst, cost: Number(cost) };
  });
}
