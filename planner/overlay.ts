import { classShare, fitVmClass, PlanError, PlanRequest, planDirect } from "./direct";
import { CONNECTIONS_PER_VM, PlannerModel, requireRegion } from "./model";
import type { VmClass } from "./prices";
import { layOut, RegionPlan, Topology, TopologyLink } from "./topology";
import { SkyplaneError } from "../errors";

/*
 * The overlay planner: a mixed-integer program over the source, the destinations and a few candidate
 * relay regions, solved by HiGHS. Variables: gateways per region N (integer), connections per region
 * link C (integer), data rate per link F (Gbit/s) and, per destination d, the rate of d's copy of the
 * data on each link f_d. Constraints: every destination receives T Gbit/s (flow conservation of each
 * f_d), f_d ≤ F (copies for several destinations share a link: multicast), F within what C connections
 * carry, connections within 64 per gateway at each end, each gateway's egress and ingress caps, vCPU
 * quotas and a per-region gateway limit. Cost per second = Σ F·egress price + Σ N·VM price.
 *   objective "cost":       T = the target; minimise cost
 *   objective "throughput": maximise T; cost per GB ≤ the cap
 */

/** What the planner asks of a MILP solver (HiGHS, see highs.ts). */
export interface MilpSolver {
  /** Solves a model in CPLEX LP format, stopping at the limits. */
  solve(lp: string, limits: MilpLimits): MilpResult;
}

/** When a solve stops. */
export interface MilpLimits {
  /** Seconds the solver may search (HiGHS checks its clock between steps, so it may overrun). */
  readonly timeLimitSeconds: number;
  /** Relative gap within which a solution counts as optimal. */
  readonly relativeGap: number;
}

/** How a solve ended and the best solution it found. */
export interface MilpResult {
  /** The solver's word for how it ended, e.g. `optimal`, `infeasible`, `timeLimit`. */
  readonly status: string;
  /** True when the solver proved `values` optimal to within the relative gap. */
  readonly optimal: boolean;
  /** True when it stopped at the time limit (with or without a solution). */
  readonly timeLimitReached: boolean;
  /** The best feasible solution found, by column name; undefined when there is none. */
  readonly values?: Readonly<Record<string, number>>;
  /**
   * The relative MIP gap of `values` as the solver reports it, |objective − best bound| / |objective|:
   * how much better than this solution the optimum could still be. Infinity without a solution.
   */
  readonly gap: number;
}

/** An overlay plan request. */
export interface OverlayRequest extends PlanRequest {
  /** What to optimise. */
  readonly objective: "cost" | "throughput";
  /** Gbit/s every destination must receive (objective "cost"). */
  readonly minThroughputGbps?: number;
  /** USD per GB at most (objective "throughput"). */
  readonly maxCostPerGB?: number;
  /** Gateways per region at most. Default 8. */
  readonly maxVmsPerRegion?: number;
  /** Candidate relay regions considered. Default 6. */
  readonly relayCandidates?: number;
  /**
   * Seconds HiGHS may spend on one solve (a plan takes one to four). At the limit the best plan found
   * so far is returned with `estimate.optimal` false and its gap. Default 30.
   */
  readonly timeLimitSeconds?: number;
}

const EPS = 1e-6;

/** Relative gap within which HiGHS's plan counts as optimal. */
const RELATIVE_GAP = 1e-4;

/** Relay candidates: the regions with the best two-hop bottleneck, and the cheapest two-hop paths. */
export function relayCandidates(
  model: PlannerModel,
  src: string,
  dsts: readonly string[],
  k: number,
): string[] {
  const world = requireRegion(src).provider === "local" ? "local" : "cloud";
  const pool = model.regions
    .map((r) => r.id)
    .filter((id) => id !== src && !dsts.includes(id))
    .filter((id) => (requireRegion(id).provider === "local") === (world === "local"));
  const bottleneck = (r: string) =>
    Math.min(
      ...dsts.map((d) => Math.min(model.throughputGbps(src, r), model.throughputGbps(r, d))),
    );
  const price = (r: string) =>
    dsts.reduce((s, d) => s + model.egressPerGB(r, d), model.egressPerGB(src, r));
  const byRate = [...pool].sort((a, b) => bottleneck(b) - bottleneck(a) || a.localeCompare(b));
  const byPrice = [...pool].sort(
    (a, b) => price(a) - price(b) || bottleneck(b) - bottleneck(a) || a.localeCompare(b),
  );
  const picked = new Set<string>();
  for (let i = 0; picked.size < Math.min(k, pool.length); i++) {
    if (byRate[i]) picked.add(byRate[i]);
    if (picked.size < k && byPrice[i]) picked.add(byPrice[i]);
  }
  return [...picked].sort();
}

interface Milp {
  readonly lp: string;
  readonly nodes: string[];
  readonly edges: Array<[number, number]>;
  readonly classes: VmClass[];
}

function num(x: number): string {
  return Number.isFinite(x) ? Number(x.toPrecision(12)).toString() : "1e30";
}

/** Builds the MILP in CPLEX LP format. `target`: fixed T (cost objective) or undefined (T free). */
function buildMilp(
  model: PlannerModel,
  src: string,
  dsts: readonly string[],
  relays: readonly string[],
  opts: { target?: number; maxCostPerGB?: number; maxVms: number; allowed?: ReadonlySet<string> },
): Milp {
  const nodes = [src, ...dsts, ...relays];
  const classes = nodes.map((r) => fitVmClass(model, r, 1));
  const isDst = (i: number) => dsts.includes(nodes[i]);
  const multicast = dsts.length > 1;
  const edges: Array<[number, number]> = [];
  for (let u = 0; u < nodes.length; u++) {
    for (let v = 0; v < nodes.length; v++) {
      if (u === v || v === 0) continue; // nothing flows back into the source
      if (!multicast && isDst(u)) continue; // a single destination forwards nothing
      if (opts.allowed && !opts.allowed.has(`${nodes[u]}>${nodes[v]}`)) continue;
      edges.push([u, v]);
    }
  }
  const F = (e: number) => `F${e}`;
  const C = (e: number) => `C${e}`;
  const f = (d: number, e: number) => `f${d}_${e}`;
  const N = (i: number) => `N${i}`;
  const price = edges.map(([u, v]) => model.egressPerGB(nodes[u], nodes[v]));
  const vmPrice = classes.map((c) => c.pricePerHour);
  // Cost in USD per second: F Gbit/s is F/8 GB/s.
  const costTerms = [
    ...edges.map((_, e) => (price[e] > 0 ? `${num(price[e] / 8)} ${F(e)}` : "")),
    ...nodes.map((_, i) => (vmPrice[i] > 0 ? `${num(vmPrice[i] / 3600)} ${N(i)}` : "")),
  ].filter(Boolean);
  const rows: string[] = [];
  const T = opts.target === undefined ? "T" : undefined;
  const rhsT = (sign: 1 | -1) =>
    T
      ? { lhs: `${sign === 1 ? "-" : "+"} T`, rhs: 0 }
      : { lhs: "", rhs: sign * (opts.target as number) };
  dsts.forEach((dst, d) => {
    const di = nodes.indexOf(dst);
    nodes.forEach((_, i) => {
      const out = edges.map(([u], e) => (u === i ? ` + ${f(d, e)}` : "")).join("");
      const inn = edges.map(([, v], e) => (v === i ? ` - ${f(d, e)}` : "")).join("");
      if (!out && !inn) return;
      // out - in = T at the source, -T at this destination, 0 elsewhere
      if (i === 0) {
        const { lhs, rhs } = rhsT(1);
        rows.push(`src${d}: ${out}${inn} ${lhs} = ${num(rhs)}`);
      } else if (i === di) {
        const { lhs, rhs } = rhsT(-1);
        rows.push(`dst${d}: ${out}${inn} ${lhs} = ${num(rhs)}`);
      } else {
        rows.push(`mid${d}_${i}: ${out}${inn} = 0`);
      }
    });
    edges.forEach((_, e) => rows.push(`share${d}_${e}: ${f(d, e)} - ${F(e)} <= 0`));
  });
  edges.forEach(([u, v], e) => {
    const rate = model.throughputGbps(nodes[u], nodes[v]);
    if (model.aggregateLinks) {
      // A shaped link: its rate is shared by every gateway pair, and any one connection can fill it.
      rows.push(`conn${e}: ${F(e)} - ${num(rate)} ${C(e)} <= 0`);
      rows.push(`link${e}: ${F(e)} <= ${num(rate)}`);
    } else {
      rows.push(`conn${e}: ${F(e)} - ${num(rate / CONNECTIONS_PER_VM)} ${C(e)} <= 0`);
    }
  });
  nodes.forEach((_, i) => {
    const out = edges.map(([u], e) => (u === i ? e : -1)).filter((e) => e >= 0);
    const inn = edges.map(([, v], e) => (v === i ? e : -1)).filter((e) => e >= 0);
    const share = classShare(classes[i]);
    if (out.length) {
      rows.push(
        `cout${i}: ${out.map((e) => ` + ${C(e)}`).join("")} - ${CONNECTIONS_PER_VM} ${N(i)} <= 0`,
      );
      // Each unit of rate on a link uses 1/cap of a gateway's egress (caps differ inside and across clouds).
      rows.push(
        `eg${i}: ${out.map((e) => ` + ${num(1 / (model.egressCapGbps(nodes[i], nodes[edges[e][1]]) * share))} ${F(e)}`).join("")} - ${N(i)} <= 0`,
      );
    }
    if (inn.length) {
      rows.push(
        `cin${i}: ${inn.map((e) => ` + ${C(e)}`).join("")} - ${CONNECTIONS_PER_VM} ${N(i)} <= 0`,
      );
      rows.push(
        `in${i}: ${inn.map((e) => ` + ${F(e)}`).join("")} - ${num(model.ingressCapGbps(nodes[i]) * share)} ${N(i)} <= 0`,
      );
    }
  });
  if (T && opts.maxCostPerGB !== undefined) {
    // cost per second ≤ maxCostPerGB · T/8
    rows.push(
      `budget: ${costTerms.map((t) => ` + ${t}`).join("")} - ${num(opts.maxCostPerGB / 8)} T <= 0`,
    );
  }
  const bounds = nodes.map((r, i) => {
    const byQuota = Math.floor(model.quotaVcpus(r) / classes[i].vcpus);
    const max = Math.min(opts.maxVms, byQuota);
    const min = i === 0 || isDst(i) ? 1 : 0;
    if (max < min) throw new PlanError(`${r}: the vCPU quota fits no gateway`);
    return ` ${min} <= ${N(i)} <= ${max}`;
  });
  const objective = T ? "Maximize\n obj: T" : `Minimize\n obj: ${costTerms.join(" + ") || "0 N0"}`;
  const lp = [
    objective,
    "Subject To",
    ...rows.map((r) => ` ${r.replace(/:\s+\+ /, ": ")}`),
    "Bounds",
    ...bounds,
    ...(T ? [" 0 <= T <= 100000"] : []),
    "General",
    ` ${nodes.map((_, i) => N(i)).join(" ")}`,
    ` ${edges.map((_, e) => C(e)).join(" ")}`,
    "End",
  ].join("\n");
  return { lp, nodes, edges, classes };
}

/** A solved MILP: the model, the best solution HiGHS found, and how good HiGHS proved it to be. */
interface Solved {
  readonly milp: Milp;
  /** Column values; undefined when HiGHS found no feasible solution. */
  readonly values?: Readonly<Record<string, number>>;
  readonly optimal: boolean;
  readonly gap: number;
  readonly timeLimitReached: boolean;
}

/** The region plan of a solved MILP (which must have values). */
function readSolution(
  model: PlannerModel,
  solved: Solved,
  dsts: readonly string[],
  objective: "cost" | "throughput",
  target: number | undefined,
): RegionPlan {
  const cols = solved.values ?? {};
  const milp = solved.milp;
  const value = (name: string) => cols[name] ?? 0;
  const { nodes, edges, classes } = milp;
  const T = target ?? value("T");
  const links: TopologyLink[] = [];
  let egress = 0;
  edges.forEach(([u, v], e) => {
    // What the link really carries: the largest destination's copy (F may exceed it where it costs nothing).
    const gbps = Math.max(...dsts.map((_, d) => value(`f${d}_${e}`)));
    if (gbps <= EPS * Math.max(1, T)) return;
    // On shaped links a few connections per gateway pair keep the link full; elsewhere the MILP counts them.
    const connections = model.aggregateLinks
      ? 8 * Math.max(1, Math.round(value(`N${u}`))) * Math.max(1, Math.round(value(`N${v}`)))
      : Math.max(1, Math.round(value(`C${e}`)));
    links.push({ from: nodes[u], to: nodes[v], connections, gbps });
    egress += gbps * model.egressPerGB(nodes[u], nodes[v]);
  });
  // Regions that carry traffic (or are an end) keep their gateways; idle ones are dropped.
  const busy = new Set([nodes[0], ...dsts, ...links.flatMap((l) => [l.from, l.to])]);
  const vms: Record<string, RegionPlan["vms"][string]> = {};
  nodes.forEach((r, i) => {
    const count = Math.round(value(`N${i}`));
    if (count > 0 && busy.has(r))
      vms[r] = { count, vmClass: classes[i].name, provider: requireRegion(r).provider };
  });
  const next: Record<string, { mode: "split" | "copy"; to: string[] }> = {};
  if (dsts.length === 1) {
    for (const l of links) (next[l.from] ??= { mode: "split", to: [] }).to.push(l.to);
  } else {
    // Multicast: each destination's copy follows its heaviest path; where paths share a link, the
    // chunk crosses it once and fans out (mux_and) where they part.
    dsts.forEach((dst, d) => {
      let at = 0;
      const seen = new Set<number>([0]);
      while (nodes[at] !== dst) {
        let best = -1;
        edges.forEach(([u, v], e) => {
          if (
            u === at &&
            !seen.has(v) &&
            (best < 0 || value(`f${d}_${e}`) > value(`f${d}_${best}`))
          )
            best = e;
        });
        if (best < 0 || value(`f${d}_${best}`) <= EPS)
          throw new SkyplaneError("PLANNER_INVARIANT", `no path to ${dst} in the solution`);
        const v = edges[best][1];
        const entry = (next[nodes[at]] ??= { mode: "copy", to: [] });
        if (!entry.to.includes(nodes[v])) entry.to.push(nodes[v]);
        seen.add(v);
        at = v;
      }
    });
  }
  const vmPerSecond = Object.entries(vms).reduce(
    (s, [r, x]) => s + x.count * (classes[nodes.indexOf(r)].pricePerHour / 3600),
    0,
  );
  return {
    src: nodes[0],
    dsts,
    objective,
    vms,
    links,
    next,
    throughputGbps: T,
    costPerGB: { egress: egress / T, vm: vmPerSecond / (T / 8) },
    solver: { optimal: solved.optimal, gap: solved.gap },
  };
}

/**
 * Plans an overlay: the cheapest topology that gives every destination `minThroughputGbps`, or the
 * fastest whose cost per GB stays within `maxCostPerGB`. Throws PlanError, saying what is achievable,
 * when the request cannot be met.
 */
export function planOverlay(
  req: OverlayRequest,
  model: PlannerModel,
  solver: MilpSolver,
): Topology {
  const src = requireRegion(req.src).id;
  const dsts = [...new Set(req.dsts)].map((d) => requireRegion(d).id);
  if (dsts.length === 0) throw new PlanError("name at least one destination region");
  if (dsts.includes(src)) return planDirect({ ...req, dsts }, model); // same region: no network to plan
  const maxVms = req.maxVmsPerRegion ?? 8;
  const limits = { timeLimitSeconds: req.timeLimitSeconds ?? 30, relativeGap: RELATIVE_GAP };
  if (!(limits.timeLimitSeconds > 0 && Number.isFinite(limits.timeLimitSeconds)))
    throw new PlanError(
      `the time limit must be a positive number of seconds, not ${limits.timeLimitSeconds}`,
    );
  const relays = relayCandidates(model, src, dsts, req.relayCandidates ?? 6);
  const solve = (
    target: number | undefined,
    maxCostPerGB: number | undefined,
    allowed?: ReadonlySet<string>,
  ): Solved => {
    const milp = buildMilp(model, src, dsts, relays, { target, maxCostPerGB, maxVms, allowed });
    const r = solver.solve(milp.lp, limits);
    return { milp, ...r };
  };
  /**
   * Multicast programs copy each chunk along a tree (mux_and where paths part), so the plan must be a
   * tree: solve once over all links, keep each destination's heaviest path, and solve again over
   * those links only, which gives gateways, connections and rates that the tree really carries. The
   * plan is optimal when both solves are, and its gap is the larger of the two.
   */
  const solveTree = (target: number | undefined, maxCostPerGB: number | undefined): Solved => {
    const first = solve(target, maxCostPerGB);
    if (dsts.length === 1 || !first.values) return first;
    const plan = readSolution(model, first, dsts, req.objective, undefined);
    const allowed = new Set(
      Object.entries(plan.next).flatMap(([from, n]) => n.to.map((to) => `${from}>${to}`)),
    );
    const tree = solve(target, maxCostPerGB, allowed);
    return {
      ...tree,
      optimal: first.optimal && tree.optimal,
      gap: Math.max(first.gap, tree.gap),
      timeLimitReached: first.timeLimitReached || tree.timeLimitReached,
    };
  };
  /** The error of a solve that stopped at the time limit before it found any plan. */
  const outOfTime = (what: string) =>
    new PlanError(
      `no plan ${what} from ${src} to ${dsts.join(", ")} was found within the ${limits.timeLimitSeconds} s time limit ` +
        `over ${relays.length} relay candidate(s), nor proved impossible: allow more time or consider fewer relay candidates`,
    );
  if (req.objective === "cost") {
    const target = req.minThroughputGbps;
    if (!(target && target > 0))
      throw new PlanError("the cost objective needs a minimum throughput (Gbit/s)");
    const solved = solveTree(target, undefined);
    if (!solved.values) {
      if (solved.timeLimitReached) throw outOfTime(`reaching ${target} Gbit/s`);
      const best = solveTree(undefined, undefined);
      const achievable = best.values?.T ?? 0;
      throw new PlanError(
        `no plan reaches ${target} Gbit/s from ${src} to ${dsts.join(", ")} with at most ${maxVms} gateways per region; ` +
          `the most achievable is ${best.optimal ? "" : "at least "}${achievable.toFixed(2)} Gbit/s: lower the target or allow more gateways`,
      );
    }
    return layOut(readSolution(model, solved, dsts, "cost", target), req);
  }
  const cap = req.maxCostPerGB;
  if (!(cap !== undefined && cap > 0))
    throw new PlanError("the throughput objective needs a maximum cost per GB (USD)");
  const solved = solveTree(undefined, cap);
  const T = solved.values?.T ?? 0;
  if (!solved.values || T <= EPS) {
    if (!solved.values && solved.timeLimitReached) throw outOfTime(`costing at most $${cap}/GB`);
    const free = solveTree(undefined, undefined);
    const plan = free.values ? readSolution(model, free, dsts, "throughput", undefined) : undefined;
    const cheapest = plan ? plan.costPerGB.egress + plan.costPerGB.vm : NaN;
    throw new PlanError(
      `no plan from ${src} to ${dsts.join(", ")} costs at most $${cap}/GB; the fastest plan ${free.optimal ? "" : "found in the time limit "}costs $${cheapest.toFixed(4)}/GB ` +
        `(of which egress $${plan?.costPerGB.egress.toFixed(4)}, which no plan avoids): raise the cap`,
    );
  }
  return layOut(readSolution(model, solved, dsts, "throughput", undefined), req);
}
