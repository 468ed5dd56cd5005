import { CONNECTIONS_PER_VM, PlannerModel, requireRegion } from "./model";
import type { VmClass } from "./prices";
import { layOut, RegionPlan, Topology, WireOptions } from "./topology";
import { SkyplaneError } from "../errors";

/** A plan request. */
export interface PlanRequest extends WireOptions {
  /** Source region id. */
  readonly src: string;
  /** Destination region ids (more than one: multicast). */
  readonly dsts: readonly string[];
  /** Gateways per region (direct plans). Default 1. */
  readonly nVms?: number;
  /** TCP connections per source gateway, spread over its destinations. Default 64. */
  readonly connections?: number;
}

/** A plan that cannot be made as asked; the message says what would be possible. */
export class PlanError extends SkyplaneError<"BAD_PLAN"> {
  constructor(message: string) {
    super("BAD_PLAN", message);
  }
}

/** The largest class of the region's provider of which `count` fit its vCPU quota. */
export function fitVmClass(model: PlannerModel, region: string, count: number): VmClass {
  const r = requireRegion(region);
  const quota = model.quotaVcpus(region);
  const classes = model.vmClasses(r.provider);
  const fit = classes.find((c) => c.vcpus * count <= quota);
  if (!fit) {
    const smallest = classes[classes.length - 1];
    throw new PlanError(
      `${region}: a quota of ${quota} vCPUs fits no ${count} gateway(s) (the smallest class, ${smallest?.name}, has ${smallest?.vcpus}); raise the quota or plan fewer gateways`,
    );
  }
  return fit;
}

/** Share of a 32-vCPU reference gateway's network that a class gets (bandwidth scales with size). */
export function classShare(c: VmClass): number {
  return c.provider === "local" ? 1 : Math.min(1, c.vcpus / 32);
}

/**
 * The direct plan: `nVms` gateways in the source and in each destination region; every source gateway
 * sends each chunk to every destination (spread over that region's gateways).
 */
export function planDirect(req: PlanRequest, model: PlannerModel): Topology {
  const n = req.nVms ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new PlanError(`nVms must be 1 to 64, not ${n}`);
  const connections = req.connections ?? CONNECTIONS_PER_VM;
  if (!Number.isInteger(connections) || connections < 1)
    throw new PlanError("connections must be at least 1");
  if (req.dsts.length === 0) throw new PlanError("name at least one destination region");
  const src = requireRegion(req.src);
  const dsts = [...new Set(req.dsts)].map((d) => requireRegion(d).id);
  const vms: Record<string, { count: number; vmClass: string; provider: typeof src.provider }> = {};
  const classes = new Map<string, VmClass>();
  for (const region of [src.id, ...dsts]) {
    const c = fitVmClass(model, region, n);
    classes.set(region, c);
    vms[region] = { count: n, vmClass: c.name, provider: requireRegion(region).provider };
  }
  const remote = dsts.filter((d) => d !== src.id);
  // On a shaped link a few connections fill it; many only fight over its queue.
  const perDst = model.aggregateLinks
    ? Math.min(8, connections)
    : Math.max(1, Math.floor(connections / Math.max(1, remote.length)));
  const srcShare = classShare(classes.get(src.id) as VmClass);
  let throughput = Infinity;
  const links = [];
  for (const d of remote) {
    const dstShare = classShare(classes.get(d) as VmClass);
    const caps = Math.min(
      model.egressCapGbps(src.id, d) * srcShare,
      model.ingressCapGbps(d) * dstShare,
    );
    const srcEgress = (n * model.egressCapGbps(src.id, d) * srcShare) / remote.length;
    const gbps = model.aggregateLinks
      ? // one shaped link, shared by every gateway pair; the gateways' own caps add up
        Math.min(model.throughputGbps(src.id, d), n * caps, srcEgress)
      : Math.min(
          n *
            Math.min(model.throughputGbps(src.id, d), caps) *
            Math.min(1, perDst / CONNECTIONS_PER_VM),
          srcEgress,
        );
    throughput = Math.min(throughput, gbps);
    links.push({ from: src.id, to: d, connections: perDst * n, gbps });
  }
  if (remote.length === 0) throughput = n * model.egressCapGbps(src.id, src.id) * srcShare; // same region: read → write
  const egress = remote.reduce((sum, d) => sum + model.egressPerGB(src.id, d), 0);
  const vmPerSecond = [...classes.values()].reduce((sum, c) => sum + n * c.pricePerHour, 0) / 3600;
  const plan: RegionPlan = {
    src: src.id,
    dsts,
    objective: "direct",
    vms,
    links: links.map((l) => ({ ...l, gbps: throughput })),
    next: remote.length
      ? { [src.id]: { mode: remote.length > 1 ? "copy" : "split", to: remote } }
      : {},
    throughputGbps: throughput,
    costPerGB: { egress, vm: vmPerSecond / (throughput / 8) },
  };
  return layOut(plan, req);
}
