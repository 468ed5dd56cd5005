import {
  BucketGrants,
  Compression,
  encryptedInbound,
  GATEWAY_PROGRAM_VERSION,
  GatewayProgram,
  GatewayRef,
  grantProgram,
  Operator,
} from "./program";
import { Provider, regionSlug } from "../common/regions";
import { SkyplaneError, UserError } from "../errors";

/*
 * Topology: the plan of one dataplane, the handoff from the planner to Pulumi and the runner. It is
 * the route stack's config, reviewed in pull requests, so it is deterministic (same input, same bytes)
 * and plain JSON. (An overlay plan that HiGHS stopped at its time limit is the one exception: it is as
 * good as the solver got in the time, and its estimate says so with `optimal: false`.) Programs name their send targets by gateway id; provisioning binds addresses.
 */

/** The version of the topology format. */
export const TOPOLOGY_VERSION = 1;

/** One gateway of a topology. */
export interface GatewaySpec {
  /** Unique id, e.g. `aws-us-east-1-0`. */
  readonly id: string;
  /** Its provider. */
  readonly provider: Provider;
  /** Its region id. */
  readonly region: string;
  /** VM class (`process` on the local cloud). */
  readonly vmClass: string;
  /** What it runs. */
  readonly program: GatewayProgram<GatewayRef>;
}

/** How the runner reaches one provisioned gateway: the stack output `gateways` lists one per GatewaySpec. */
export interface ProvisionedGateway {
  /** Gateway id from the topology. */
  readonly id: string;
  /** Its region. */
  readonly region: string;
  /** True when it reads from the source store (the runner sends it chunk requests). */
  readonly source: boolean;
  /** Address of its servers. */
  readonly host: string;
  /** Control API port. */
  readonly controlPort: number;
  /** Data port. */
  readonly dataPort: number;
  /** Its log file. */
  readonly logFile: string;
}

/** A data path between two gateways. */
export interface TopologyEdge {
  /** Sending gateway id. */
  readonly from: string;
  /** Receiving gateway id. */
  readonly to: string;
  /** Parallel TCP connections. */
  readonly connections: number;
  /** Expected Gbit/s on this path. */
  readonly expectedGbps: number;
}

/** Traffic between two regions: what a reviewer reads first. */
export interface TopologyLink {
  /** Sending region. */
  readonly from: string;
  /** Receiving region. */
  readonly to: string;
  /** TCP connections over all gateway pairs. */
  readonly connections: number;
  /** Expected Gbit/s. */
  readonly gbps: number;
}

/** A dataplane plan. */
export interface Topology {
  /** Format version, TOPOLOGY_VERSION. */
  readonly version: typeof TOPOLOGY_VERSION;
  /** Source and destination regions. */
  readonly route: { readonly src: string; readonly dsts: readonly string[] };
  /** How it was planned: `direct`, `cost` or `throughput`. */
  readonly objective: "direct" | "cost" | "throughput";
  /** Gateways per region, sorted. */
  readonly regions: readonly {
    readonly region: string;
    readonly gateways: number;
    readonly vmClass: string;
  }[];
  /** Region-level traffic, sorted. */
  readonly links: readonly TopologyLink[];
  /** Gateways, sorted by id. */
  readonly gateways: readonly GatewaySpec[];
  /** Gateway-level data paths, sorted. */
  readonly edges: readonly TopologyEdge[];
  /** What the plan is expected to do and cost. */
  readonly estimate: {
    /** Expected throughput to every destination, Gbit/s. */
    readonly throughputGbps: number;
    /** USD per GB of source data, split into egress (every hop, relays included) and gateway time. */
    readonly costPerGB: { readonly egress: number; readonly vm: number; readonly total: number };
    /**
     * Overlay plans: true when HiGHS proved the plan optimal (to within 0.01%); false when it stopped at
     * its time limit and this is the best plan it had found. Direct plans have no such field.
     */
    readonly optimal?: boolean;
    /**
     * Overlay plans: HiGHS's relative MIP gap, |objective − best bound| / |objective|, where the
     * objective is the cost per second (cost objective) or the throughput (throughput objective): how
     * much better than this plan the optimum could still be. About 0 when optimal.
     */
    readonly optimalityGap?: number;
  };
}

/** A plan at the level of regions, before gateways and programs are laid out. */
export interface RegionPlan {
  readonly src: string;
  readonly dsts: readonly string[];
  readonly objective: Topology["objective"];
  /** Gateways and class per region that takes part. */
  readonly vms: Readonly<
    Record<
      string,
      { readonly count: number; readonly vmClass: string; readonly provider: Provider }
    >
  >;
  /** Region links with traffic. */
  readonly links: readonly TopologyLink[];
  /**
   * Where each region hands chunks on: `split` spreads them over the next regions (by link Gbit/s),
   * `copy` sends every chunk to every next region (multicast).
   */
  readonly next: Readonly<
    Record<string, { readonly mode: "split" | "copy"; readonly to: readonly string[] }>
  >;
  readonly throughputGbps: number;
  readonly costPerGB: { readonly egress: number; readonly vm: number };
  /** How the MILP solver judged the plan (overlay plans). */
  readonly solver?: { readonly optimal: boolean; readonly gap: number };
}

/** How chunks travel on the wire. */
export interface WireOptions {
  /** Compression. Default zstd. */
  readonly compress?: Compression;
  /** Encryption. Default true. */
  readonly encrypt?: boolean;
}

/** The stack name of a route: `local-east--local-west`, `aws-us-east-1--gcp-us-central1-a--azure-eastus`. */
export function routeStackName(src: string, dsts: string | readonly string[]): string {
  return [src, ...(typeof dsts === "string" ? [dsts] : dsts)].map(regionSlug).join("--");
}

/** Rounds for a reviewer: 4 significant digits, so the same plan always prints the same. */
function round(x: number): number {
  return Number(x.toPrecision(4));
}

/** Lays a region plan out as gateways, programs and edges. Deterministic: sorted everywhere. */
export function layOut(plan: RegionPlan, wire: WireOptions = {}): Topology {
  const regions = Object.keys(plan.vms).sort();
  const ids = (region: string) =>
    Array.from({ length: plan.vms[region].count }, (_, i) => `${regionSlug(region)}-${i}`);
  const linkOf = (from: string, to: string) =>
    plan.links.find((l) => l.from === from && l.to === to);
  const perPair = (from: string, to: string) => {
    const link = linkOf(from, to);
    const pairs = plan.vms[from].count * plan.vms[to].count;
    return {
      connections: Math.max(1, Math.ceil((link?.connections ?? 1) / pairs)),
      gbps: round((link?.gbps ?? 0) / pairs),
    };
  };
  const sendsTo = (from: string, to: string): Operator<GatewayRef>[] =>
    ids(to).map((gatewayId) => ({
      op: "send",
      target: { gatewayId },
      connections: perPair(from, to).connections,
      compress: wire.compress ?? "zstd",
      encrypt: wire.encrypt ?? true,
    }));
  const group = (ops: Operator<GatewayRef>[]): Operator<GatewayRef> =>
    ops.length === 1 ? ops[0] : { op: "mux_or", children: ops };
  const onward = (region: string): Operator<GatewayRef> | undefined => {
    const next = plan.next[region];
    if (!next || next.to.length === 0) return undefined;
    const to = [...next.to].sort();
    if (next.mode === "copy") {
      const branches = to.map((r) => group(sendsTo(region, r)));
      return branches.length === 1 ? branches[0] : { op: "mux_and", children: branches };
    }
    const sends = to.flatMap((r) => sendsTo(region, r));
    const weights = to.flatMap((r) => ids(r).map(() => Math.max(1e-6, perPair(region, r).gbps)));
    if (sends.length === 1) return sends[0];
    // Weighted only when the paths differ: equal weights are the default.
    return new Set(weights).size > 1
      ? { op: "mux_or", children: sends, weights }
      : { op: "mux_or", children: sends };
  };
  const gateways: GatewaySpec[] = [];
  for (const region of regions) {
    const { vmClass, provider } = plan.vms[region];
    const forward = onward(region);
    const writes = plan.dsts.includes(region);
    const after: Operator<GatewayRef> | undefined =
      writes && forward
        ? { op: "mux_and", children: [{ op: "write_object_store" }, forward] }
        : writes
          ? { op: "write_object_store" }
          : forward;
    if (!after)
      throw new SkyplaneError(
        "PLANNER_INVARIANT",
        `region ${region} takes part in the plan but neither writes nor forwards`,
      );
    for (const id of ids(region)) {
      gateways.push({
        id,
        provider,
        region,
        vmClass,
        program: {
          version: GATEWAY_PROGRAM_VERSION,
          gatewayId: id,
          region,
          operators: [
            region === plan.src
              ? { op: "read_object_store", next: after }
              : { op: "receive", next: after },
          ],
        },
      });
    }
  }
  const edges: TopologyEdge[] = [];
  for (const link of plan.links) {
    const { connections, gbps } = perPair(link.from, link.to);
    for (const from of ids(link.from)) {
      for (const to of ids(link.to)) edges.push({ from, to, connections, expectedGbps: gbps });
    }
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    version: TOPOLOGY_VERSION,
    route: { src: plan.src, dsts: [...plan.dsts] },
    objective: plan.objective,
    regions: regions.map((region) => ({
      region,
      gateways: plan.vms[region].count,
      vmClass: plan.vms[region].vmClass,
    })),
    links: [...plan.links]
      .map((l) => ({ ...l, gbps: round(l.gbps) }))
      .sort((a, b) => cmp(a.from, b.from) || cmp(a.to, b.to)),
    gateways: gateways.sort((a, b) => cmp(a.id, b.id)),
    edges: edges.sort((a, b) => cmp(a.from, b.from) || cmp(a.to, b.to)),
    estimate: {
      throughputGbps: round(plan.throughputGbps),
      costPerGB: {
        egress: round(plan.costPerGB.egress),
        vm: round(plan.costPerGB.vm),
        total: round(plan.costPerGB.egress + plan.costPerGB.vm),
      },
      ...(plan.solver && {
        optimal: plan.solver.optimal,
        optimalityGap: round(plan.solver.gap),
      }),
    },
  };
}

/** Gateways of a topology ordered so that every gateway comes after the ones it sends to. */
export function provisioningOrder(topology: Topology): GatewaySpec[] {
  const byId = new Map(topology.gateways.map((g) => [g.id, g]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: GatewaySpec[] = [];
  const visit = (g: GatewaySpec) => {
    if (done.has(g.id)) return;
    if (visiting.has(g.id))
      throw new UserError("BAD_TOPOLOGY", `the topology's sends form a cycle through ${g.id}`);
    visiting.add(g.id);
    for (const e of topology.edges.filter((e) => e.from === g.id)) {
      const to = byId.get(e.to);
      if (!to)
        throw new UserError("BAD_TOPOLOGY", `edge ${e.from} → ${e.to} names an unknown gateway`);
      visit(to);
    }
    visiting.delete(g.id);
    done.add(g.id);
    order.push(g);
  };
  topology.gateways.forEach(visit);
  return order;
}

/** The gateways that read from the source store (where the runner sends chunk requests). */
export function sourceGateways(topology: Topology): GatewaySpec[] {
  return topology.gateways.filter((g) =>
    g.program.operators.some((o) => o.op === "read_object_store"),
  );
}

/**
 * The topology as its gateways run it: every program granted the dataplane's buckets, and every
 * receiver told whether its senders encrypt (see grantProgram). The planned topology stays as it is.
 */
export function grantTopology(topology: Topology, grants: BucketGrants): Topology {
  const inbound = encryptedInbound(topology.gateways.map((g) => g.program));
  return {
    ...topology,
    gateways: topology.gateways.map((g) => ({
      ...g,
      program: grantProgram(g.program, grants, inbound[g.id] ?? false),
    })),
  };
}
