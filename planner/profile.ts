import { GridRow, ModelOptions } from "./model";
import { LOCAL_REGIONS } from "./regions";
import { UserError } from "../errors";

/*
 * A network profile describes the local cloud as a WAN: its regions, the rate of the link between every
 * ordered pair of them, and each gateway's egress and ingress caps. The same numbers are the planner's
 * throughput grid for those regions, so a plan and its rehearsal on this machine agree.
 */

/** The version of the profile format. */
export const PROFILE_VERSION = 1;

/** A local cloud shaped like a WAN. */
export interface NetworkProfile {
  /** Format version, PROFILE_VERSION. */
  readonly version: typeof PROFILE_VERSION;
  /** What it models, e.g. "aws us-east-1 / eu-west-1 / ap-southeast-2 at 1/200". */
  readonly description?: string;
  /** Local regions taking part, e.g. ["local:east", "local:west"]. */
  readonly regions: readonly string[];
  /** Link rate in Mbit/s per ordered pair, keyed "local:a>local:b"; a missing pair has no link. */
  readonly links: Readonly<Record<string, number>>;
  /** Per-gateway caps in Mbit/s (all regions), optionally per region. */
  readonly gateway: {
    readonly egressMbps: number;
    readonly ingressMbps: number;
    readonly perRegion?: Readonly<
      Record<string, { readonly egressMbps?: number; readonly ingressMbps?: number }>
    >;
  };
}

/** Checks a profile, naming the first thing wrong with it. */
export function parseProfile(value: unknown): NetworkProfile {
  const p = value as NetworkProfile;
  if (typeof p !== "object" || p === null)
    throw new UserError("BAD_PROFILE", "a network profile is a JSON object");
  if (p.version !== PROFILE_VERSION)
    throw new UserError(
      "BAD_PROFILE",
      `profile version ${String(p.version)} is not ${PROFILE_VERSION}`,
    );
  if (!Array.isArray(p.regions) || p.regions.length < 2)
    throw new UserError("BAD_PROFILE", "regions: name at least two local regions");
  for (const r of p.regions) {
    if (!LOCAL_REGIONS.includes(r))
      throw new UserError(
        "BAD_PROFILE",
        `regions: ${r} is not a local region (${LOCAL_REGIONS.join(", ")})`,
      );
  }
  for (const [pair, rate] of Object.entries(p.links ?? {})) {
    const [a, b] = pair.split(">");
    if (!p.regions.includes(a) || !p.regions.includes(b) || a === b)
      throw new UserError("BAD_PROFILE", `links: "${pair}" is not a pair of the profile's regions`);
    if (!(typeof rate === "number" && rate > 0 && rate <= 100_000))
      throw new UserError("BAD_PROFILE", `links: ${pair} must be 0 < Mbit/s ≤ 100000`);
  }
  const g = p.gateway;
  if (!g || !(g.egressMbps > 0) || !(g.ingressMbps > 0))
    throw new UserError("BAD_PROFILE", "gateway: egressMbps and ingressMbps must be positive");
  return p;
}

/**
 * The profile to emulate, or undefined: shaping needs root (namespaces, tc); without it the local cloud
 * runs unshaped on loopback, and the runner says so. `uid` defaults to this process's.
 */
export function emulatedNetwork(
  profile: unknown,
  uid = process.getuid?.(),
): NetworkProfile | undefined {
  return profile !== undefined && uid === 0 ? parseProfile(profile) : undefined;
}

/** Link rate between two regions in Mbit/s, or undefined when the profile has no such link. */
export function linkMbps(p: NetworkProfile, from: string, to: string): number | undefined {
  return p.links[`${from}>${to}`];
}

/** A gateway's caps in a region, Mbit/s. */
export function gatewayCaps(
  p: NetworkProfile,
  region: string,
): { egressMbps: number; ingressMbps: number } {
  const r = p.gateway.perRegion?.[region];
  return {
    egressMbps: r?.egressMbps ?? p.gateway.egressMbps,
    ingressMbps: r?.ingressMbps ?? p.gateway.ingressMbps,
  };
}

/**
 * The planner's view of a profile: the link rates are an aggregate grid (shared by every gateway of the
 * two regions), the gateways' caps are the regions' per-VM caps, and relays are chosen among the
 * profile's regions only.
 */
export function profileModelOptions(p: NetworkProfile): ModelOptions {
  const grid: GridRow[] = [];
  for (const a of p.regions) {
    for (const b of p.regions) {
      const link = a === b ? undefined : linkMbps(p, a, b);
      if (link === undefined) continue;
      // The link's own rate: the gateways' caps are separate constraints, which add up over gateways.
      grid.push({ src: a, dst: b, gbps: link / 1000 });
    }
  }
  const caps = Object.fromEntries(
    p.regions.map((r) => [
      r,
      {
        egressGbps: gatewayCaps(p, r).egressMbps / 1000,
        ingressGbps: gatewayCaps(p, r).ingressMbps / 1000,
      },
    ]),
  );
  return { grid, regions: [...p.regions], caps, missingLinkGbps: 0, aggregateLinks: true };
}

/**
 * A profile from a measured grid: `mapping` sends each measured region to a local region, and rates are
 * multiplied by `scale` (e.g. 0.01 turns 5 Gbit/s into 50 Mbit/s). Gateway caps scale the same way.
 */
export function deriveProfile(
  grid: readonly GridRow[],
  mapping: Readonly<Record<string, string>>,
  scale: number,
  caps: { egressGbps: number; ingressGbps: number },
): NetworkProfile {
  const links: Record<string, number> = {};
  for (const row of grid) {
    const a = mapping[row.src];
    const b = mapping[row.dst];
    if (a && b && a !== b) links[`${a}>${b}`] = Number((row.gbps * 1000 * scale).toPrecision(3));
  }
  const regions = [...new Set(Object.values(mapping))].sort();
  return parseProfile({
    version: PROFILE_VERSION,
    description: `derived from ${Object.keys(mapping).join(", ")} at ${scale}×`,
    regions,
    links: Object.fromEntries(Object.entries(links).sort()),
    gateway: {
      egressMbps: Number((caps.egressGbps * 1000 * scale).toPrecision(3)),
      ingressMbps: Number((caps.ingressGbps * 1000 * scale).toPrecision(3)),
    },
  });
}
