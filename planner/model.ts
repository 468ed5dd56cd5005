import { CATALOGUE, CatalogueRegion, catalogueRegion, distanceKm } from "./catalogue";
import { listEgressPerGB, VM_CLASSES, VmClass } from "./prices";
import { parseRegion } from "../common/regions";
import { knownRegion } from "./regions";

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
 * How throughput falls with distance, fitted to the 2022-11 grid (median absolute error 9% over its
 * 4970 pairs, see bench/planner-model): long paths have long round trips, and a TCP connection's rate
 * is its window over its round-trip time.
 */
const DISTANCE_SCALE_KM = 30_000;
const DISTANCE_EXPONENT = 0.75;

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

/** The default throughput estimate between two regions from the per-VM caps and their distance. */
export function estimateThroughputGbps(a: CatalogueRegion, b: CatalogueRegion): number {
  const egress = a.provider === b.provider ? EGRESS_INTRA[a.provider] : EGRESS_INTER[a.provider];
  const cap = Math.min(egress, INGRESS[b.provider]);
  return cap / (1 + Math.pow(distanceKm(a, b) / DISTANCE_SCALE_KM, DISTANCE_EXPONENT));
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

/** Parses a throughput grid in the CSV format of Skyplane's measurements (received bits per second). */
export function parseGridCsv(text: string): GridRow[] {
  const [head, ...lines] = text.trim().split(/\r?\n/);
  const cols = head.split(",");
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`the grid has no column ${name} (columns: ${cols.join(", ")})`);
    return i;
  };
  const [src, dst, rx, ok] = [
    at("src_region"),
    at("dst_region"),
    at("throughput_received_bps"),
    cols.indexOf("success"),
  ];
  return lines
    .map((l) => l.split(","))
    .filter((f) => ok < 0 || f[ok] !== "False")
    .map((f, n) => {
      const gbps = Number(f[rx]) / 1e9;
      if (!Number.isFinite(gbps) || gbps <= 0)
        throw new Error(`grid line ${n + 2}: bad throughput ${f[rx]}`);
      return { src: f[src], dst: f[dst], gbps };
    });
}

/** Parses a price matrix `src,dest,cost` (USD per GB). */
export function parsePriceCsv(text: string): PriceRow[] {
  const [head, ...lines] = text.trim().split(/\r?\n/);
  if (!/^src,dest?,cost$/.test(head.trim()))
    throw new Error(`a price matrix starts with "src,dest,cost", not "${head}"`);
  return lines.map((l, n) => {
    const [src, dst, cost] = l.split(",");
    if (!Number.isFinite(Number(cost))) throw new Error(`price line ${n + 2}: bad cost ${cost}`);
    return { src, dst, cost: Number(cost) };
  });
}
