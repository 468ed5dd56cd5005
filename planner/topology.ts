import {
  Compression,
  GATEWAY_PROGRAM_VERSION,
  GatewayProgram,
  GatewayRef,
  Operator,
} from "./program";
import { parseRegion, Provider, regionSlug } from "./regions";

/*
 * Topology: the plan of one dataplane, the handoff from the planner to Pulumi and the runner. It is
 * the route stack's config, reviewed in pull requests, so it is deterministic (same input, same bytes)
 * and plain JSON. Programs name their send targets by gateway id; provisioning binds addresses.
 */

/** The version of the topology format. */
export const TOPOLOGY_VERSION = 1;

/** One gateway of a topology. */
export interface GatewaySpec {
  /** Unique id, e.g. `local-east-0`. */
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

/** A data path between two gateways. */
export interface TopologyEdge {
  /** Sending gateway id. */
  readonly from: string;
  /** Receiving gateway id. */
  readonly to: string;
  /** Parallel TCP connections. */
  readonly connections: number;
}

/** A dataplane plan. */
export interface Topology {
  /** Format version, TOPOLOGY_VERSION. */
  readonly version: typeof TOPOLOGY_VERSION;
  /** Source and destination regions. */
  readonly route: { readonly src: string; readonly dst: string };
  /** Gateways, sorted by id. */
  readonly gateways: readonly GatewaySpec[];
  /** Data paths, sorted. */
  readonly edges: readonly TopologyEdge[];
  /** What the plan is expected to cost; the local cloud is free. */
  readonly estimate: {
    /** USD per GB moved, split into egress and gateway time. */
    readonly costPerGB: { readonly egress: number; readonly vm: number; readonly total: number };
    /** Expected throughput in Gbit/s, when the network model knows the route. */
    readonly throughputGbps?: number;
  };
}

/** What a direct plan needs. */
export interface DirectPlanRequest {
  /** Source region id. */
  readonly src: string;
  /** Destination region id. */
  readonly dst: string;
  /** Gateways per region. Default 1. */
  readonly nVms?: number;
  /** TCP connections per source gateway, split over its destinations. Default 32. */
  readonly connections?: number;
  /** Compression on the wire. Default zstd. */
  readonly compress?: Compression;
  /** Encryption on the wire. Default true. */
  readonly encrypt?: boolean;
}

/** The stack name of a route: `local-east--local-west`. */
export function routeStackName(src: string, dst: string): string {
  return `${regionSlug(src)}--${regionSlug(dst)}`;
}

/**
 * The direct plan: `nVms` gateways in the source region, each spreading its chunks over the `nVms`
 * gateways of the destination region (mux_or), which write them to the destination bucket.
 */
export function planDirect(req: DirectPlanRequest): Topology {
  const src = parseRegion(req.src);
  const dst = parseRegion(req.dst);
  const n = req.nVms ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new RangeError(`nVms must be 1 to 64, not ${n}`);
  const connections = req.connections ?? 32;
  if (!Number.isInteger(connections) || connections < 1)
    throw new RangeError("connections must be at least 1");
  const ids = (region: string) => Array.from({ length: n }, (_, i) => `${regionSlug(region)}-${i}`);
  const srcIds = ids(src.id);
  const dstIds = ids(dst.id).map((id) => (src.id === dst.id ? `${id}-dst` : id));
  const perEdge = Math.max(1, Math.floor(connections / dstIds.length));
  const sends: Operator<GatewayRef>[] = dstIds.map((to) => ({
    op: "send",
    target: { gatewayId: to },
    connections: perEdge,
    compress: req.compress ?? "zstd",
    encrypt: req.encrypt ?? true,
  }));
  const vmClass = (p: Provider) => (p === "local" ? "process" : "unknown");
  const gateways: GatewaySpec[] = [
    ...srcIds.map((id) => ({
      id,
      provider: src.provider,
      region: src.id,
      vmClass: vmClass(src.provider),
      program: {
        version: GATEWAY_PROGRAM_VERSION,
        gatewayId: id,
        region: src.id,
        operators: [
          {
            op: "read_object_store",
            next: sends.length === 1 ? sends[0] : { op: "mux_or", children: sends },
          },
        ],
      } as GatewayProgram<GatewayRef>,
    })),
    ...dstIds.map((id) => ({
      id,
      provider: dst.provider,
      region: dst.id,
      vmClass: vmClass(dst.provider),
      program: {
        version: GATEWAY_PROGRAM_VERSION,
        gatewayId: id,
        region: dst.id,
        operators: [{ op: "receive", next: { op: "write_object_store" } }],
      } as GatewayProgram<GatewayRef>,
    })),
  ].sort((a, b) => a.id.localeCompare(b.id));
  const edges = srcIds.flatMap((from) => dstIds.map((to) => ({ from, to, connections: perEdge })));
  return {
    version: TOPOLOGY_VERSION,
    route: { src: src.id, dst: dst.id },
    gateways,
    edges,
    estimate: { costPerGB: { egress: 0, vm: 0, total: 0 } },
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
    if (visiting.has(g.id)) throw new Error(`the topology's sends form a cycle through ${g.id}`);
    visiting.add(g.id);
    for (const e of topology.edges.filter((e) => e.from === g.id)) {
      const to = byId.get(e.to);
      if (!to) throw new Error(`edge ${e.from} → ${e.to} names an unknown gateway`);
      visit(to);
    }
    visiting.delete(g.id);
    done.add(g.id);
    order.push(g);
  };
  topology.gateways.forEach(visit);
  return order;
}

/** Ids of the gateways that read from the source store (where the runner sends chunk requests). */
export function sourceGateways(topology: Topology): GatewaySpec[] {
  return topology.gateways.filter((g) =>
    g.program.operators.some((o) => o.op === "read_object_store"),
  );
}
