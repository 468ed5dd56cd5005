import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { gatewayCaps, linkMbps, NetworkProfile } from "../../planner/profile";
import { UserError } from "../../errors";
import { DynamicResource } from "./prebuilt";

/*
 * The local cloud's emulated WAN. Each region is a router namespace; each gateway gets a namespace of its
 * own, wired to its region's router by a veth pair shaped (tbf) at the gateway's egress and ingress caps;
 * every pair of regions with a link in the profile is a veth pair between their routers, each direction
 * shaped at that direction's rate. The host reaches every router over an unshaped veth, so the runner
 * talks to gateways as it would to cloud VMs. This kernel has no netem, so delay and loss are not
 * emulated: only rates.
 *
 * Addresses: each stack has a /21 of its own in 10.224.0.0/11 (`addressBlock`, chosen by its tag), so that
 * the shaped dataplanes of several stacks can be up at once; in the stack's block 10.A.B.0/21:
 *   10.A.(B).<4r+1|4r+2>/30          host ↔ router of region r (the only addresses on the host)
 *   10.A.(B+1+r).<4g+1|4g+2>/30      router ↔ gateway g of region r (the host routes the /24 via r's router)
 *   10.A.(B+7).<4p+1|4p+2>/30        router ↔ router, pair p
 * A block already in the host's addresses or routes (another stack's, or this machine's own network) is
 * refused when the network is made, never taken over.
 */

/** One end of a veth pair. */
export interface VethEnd {
  /** Namespace, or undefined for the host. */
  readonly ns?: string;
  /** Interface name (≤ 15 characters). */
  readonly ifname: string;
  /** Address with prefix length. */
  readonly cidr: string;
  /** tbf rate of what leaves this end, Mbit/s; undefined: unshaped. */
  readonly rateMbps?: number;
}

/** What the emulation creates, computed before anything is touched. */
export interface NetworkPlan {
  /** Namespaces to create, routers first. */
  readonly namespaces: readonly string[];
  /** Veth pairs. */
  readonly veths: readonly (readonly [VethEnd, VethEnd])[];
  /** Routes: in namespace (undefined: host), destination, via. */
  readonly routes: readonly { readonly ns?: string; readonly to: string; readonly via: string }[];
  /** Where each gateway lives and its address. */
  readonly gateways: Readonly<Record<string, { readonly ns: string; readonly ip: string }>>;
  /** Router namespaces, which forward. */
  readonly routers: readonly string[];
  /** The stack's tag in every name. */
  readonly tag: string;
  /** The stack's address block (`addressBlock`), which nothing else on the host may hold. */
  readonly block?: string;
}

/** A short tag for a stack, so that names of different stacks never collide (interface names are short). */
export function networkTag(stack: string): string {
  return crypto.createHash("sha256").update(stack).digest("hex").slice(0, 5);
}

/** Every stack's emulated network lives in this range, a /21 each. */
export const EMULATED_SPACE = "10.224.0.0/11";

/** The /21 of a stack's emulated network: one of the 1,024 in `EMULATED_SPACE`, chosen by its tag. */
export function addressBlock(tag: string): {
  readonly cidr: string;
  readonly octets: [number, number];
} {
  const slot = parseInt(tag, 16) % 1024;
  const octets: [number, number] = [224 + (slot >> 5), (slot & 31) * 8];
  return { cidr: `10.${octets[0]}.${octets[1]}.0/21`, octets };
}

/** The /24 of region `r`'s gateways in the stack tagged `tag`, which the host routes via r's router. */
export function gatewaySubnet(tag: string, r: number): string {
  const [a, b] = addressBlock(tag).octets;
  return `10.${a}.${b + 1 + r}.0/24`;
}

/** Regions a stack's block has room for: a /24 for each region's gateways between hosts and pairs. */
const MAX_REGIONS = 6;

/** Plans the namespaces, links and routes for gateways `gateways` (id → region) under `profile`. */
export function planNetwork(
  profile: NetworkProfile,
  gateways: readonly { readonly id: string; readonly region: string }[],
  tag: string,
): NetworkPlan {
  const regions = [...profile.regions];
  if (regions.length > MAX_REGIONS)
    throw new UserError(
      "BAD_PROFILE",
      `regions: at most ${MAX_REGIONS} regions can be emulated at once, not ${regions.length}`,
    );
  const [a8, b8] = addressBlock(tag).octets;
  const hostLink = (r: number, end: 1 | 2) => `10.${a8}.${b8}.${4 * r + end}`;
  const gatewayLink = (r: number, g: number, end: 1 | 2) => `10.${a8}.${b8 + 1 + r}.${4 * g + end}`;
  const pairLink = (p: number, end: 1 | 2) => `10.${a8}.${b8 + 7}.${4 * p + end}`;
  const routerNs = (r: number) => `sk${tag}r${r}`;
  const namespaces: string[] = regions.map((_, r) => routerNs(r));
  const veths: Array<[VethEnd, VethEnd]> = [];
  const routes: Array<{ ns?: string; to: string; via: string }> = [];
  const placed: Record<string, { ns: string; ip: string }> = {};
  regions.forEach((region, r) => {
    // host ↔ router, unshaped: control traffic only.
    veths.push([
      { ifname: `sk${tag}h${r}`, cidr: `${hostLink(r, 1)}/30` },
      { ns: routerNs(r), ifname: "host", cidr: `${hostLink(r, 2)}/30` },
    ]);
    routes.push({ to: gatewaySubnet(tag, r), via: hostLink(r, 2) });
    const inRegion = gateways.filter((g) => g.region === region);
    if (inRegion.length > 63)
      throw new UserError(
        "TOO_MANY_GATEWAYS",
        `${region}: at most 63 gateways per region can be emulated`,
      );
    const caps = gatewayCaps(profile, region);
    inRegion.forEach((g, i) => {
      const ns = `sk${tag}r${r}g${i}`;
      namespaces.push(ns);
      veths.push([
        {
          ns: routerNs(r),
          ifname: `g${i}`,
          cidr: `${gatewayLink(r, i, 1)}/30`,
          rateMbps: caps.ingressMbps,
        },
        { ns, ifname: "eth0", cidr: `${gatewayLink(r, i, 2)}/30`, rateMbps: caps.egressMbps },
      ]);
      routes.push({ ns, to: "default", via: gatewayLink(r, i, 1) });
      placed[g.id] = { ns, ip: gatewayLink(r, i, 2) };
    });
  });
  let pair = 0;
  for (let a = 0; a < regions.length; a++) {
    for (let b = a + 1; b < regions.length; b++) {
      const ab = linkMbps(profile, regions[a], regions[b]);
      const ba = linkMbps(profile, regions[b], regions[a]);
      if (ab === undefined && ba === undefined) continue;
      // A direction without a link is shaped to a trickle rather than left open.
      veths.push([
        { ns: routerNs(a), ifname: `p${b}`, cidr: `${pairLink(pair, 1)}/30`, rateMbps: ab ?? 0.01 },
        { ns: routerNs(b), ifname: `p${a}`, cidr: `${pairLink(pair, 2)}/30`, rateMbps: ba ?? 0.01 },
      ]);
      routes.push({ ns: routerNs(a), to: gatewaySubnet(tag, b), via: pairLink(pair, 2) });
      routes.push({ ns: routerNs(b), to: gatewaySubnet(tag, a), via: pairLink(pair, 1) });
      pair++;
    }
  }
  return {
    namespaces,
    veths,
    routes,
    gateways: placed,
    routers: regions.map((_, r) => routerNs(r)),
    tag,
    block: addressBlock(tag).cidr,
  };
}

/**
 * tbf parameters for a rate: a burst of ~10 ms of traffic (at least 16 KiB) and a queue of 400 ms, as
 * deep as a WAN router's: with a shallow queue, many TCP flows on a slow link lose packets and back off
 * far below the rate (measured: 8 flows on 10 Mbit/s got 6.6 Mbit/s with 100 ms, 9.4 with 400 ms).
 */
function tbf(rateMbps: number): string[] {
  const burstBytes = Math.max(16 * 1024, Math.round((rateMbps * 1e6 * 0.01) / 8));
  return ["tbf", "rate", `${rateMbps}mbit`, "burst", String(burstBytes), "latency", "400ms"];
}

/** The `ip`/`tc` command lines that build the plan, in order. */
export function upCommands(plan: NetworkPlan): string[][] {
  const cmds: string[][] = [];
  const inNs = (ns: string | undefined, args: string[]) =>
    ns ? ["ip", "netns", "exec", ns, ...args] : args;
  for (const ns of plan.namespaces) {
    cmds.push(["ip", "netns", "add", ns]);
    cmds.push(["ip", "-n", ns, "link", "set", "lo", "up"]);
  }
  for (const ns of plan.routers)
    cmds.push(inNs(ns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]));
  plan.veths.forEach(([a, b], i) => {
    // Created in the host under temporary names, then moved and renamed: names only need be unique per namespace.
    const ta = `s${plan.tag}v${i}a`;
    const tb = `s${plan.tag}v${i}b`;
    cmds.push(["ip", "link", "add", ta, "type", "veth", "peer", "name", tb]);
    for (const [end, tmp] of [
      [a, ta],
      [b, tb],
    ] as const) {
      if (end.ns) cmds.push(["ip", "link", "set", tmp, "netns", end.ns, "name", end.ifname]);
      else cmds.push(["ip", "link", "set", tmp, "name", end.ifname]);
      const ipn = end.ns ? ["ip", "-n", end.ns] : ["ip"];
      cmds.push([...ipn, "addr", "add", end.cidr, "dev", end.ifname]);
      cmds.push([...ipn, "link", "set", end.ifname, "up"]);
      if (end.rateMbps !== undefined) {
        cmds.push([
          ...(end.ns ? ["tc", "-n", end.ns] : ["tc"]),
          "qdisc",
          "replace",
          "dev",
          end.ifname,
          "root",
          ...tbf(end.rateMbps),
        ]);
      }
    }
  });
  // In the host a route is added, never replaced: one that exists belongs to someone else, and taking it
  // over would cut them off. In the plan's own namespaces nothing else has routes.
  for (const r of plan.routes)
    cmds.push(
      r.ns
        ? ["ip", "-n", r.ns, "route", "replace", r.to, "via", r.via]
        : ["ip", "route", "add", r.to, "via", r.via],
    );
  return cmds;
}

/** The command lines that remove everything the plan made: its namespaces (with their veths) and host ends. */
export function downCommands(plan: NetworkPlan): string[][] {
  return [
    ...plan.veths.flatMap(([a, b]) =>
      [a, b].filter((e) => !e.ns).map((e) => ["ip", "link", "del", e.ifname]),
    ),
    ...[...plan.namespaces].reverse().map((ns) => ["ip", "netns", "del", ns]),
  ];
}

/** An IPv4 prefix as its first address and length. */
function prefix(cidr: string): { first: number; bits: number } {
  const [ip, len] = cidr.split("/");
  const bits = len === undefined ? 32 : Number(len);
  const n = ip.split(".").reduce((v, o) => v * 256 + Number(o), 0);
  const size = 2 ** (32 - bits);
  return { first: n - (n % size), bits };
}

/** Whether two IPv4 prefixes share an address. */
function overlap(a: string, b: string): boolean {
  const [p, q] = [prefix(a), prefix(b)];
  const bits = Math.min(p.bits, q.bits);
  const size = 2 ** (32 - bits);
  return p.first - (p.first % size) === q.first - (q.first % size);
}

/**
 * What on the host already holds addresses of the plan's block, from the lines of `ip -4 -o addr show`
 * and `ip -4 route show`: each as the line that shows it. Nothing, when the block is free.
 */
export function hostConflicts(plan: NetworkPlan, addrLines: string, routeLines: string): string[] {
  if (!plan.block) return [];
  const block = plan.block;
  const found: string[] = [];
  for (const line of addrLines.split("\n")) {
    const m = /\binet\s+(\d+\.\d+\.\d+\.\d+\/\d+)/.exec(line);
    if (m && overlap(m[1], block)) found.push(line.trim());
  }
  for (const line of routeLines.split("\n")) {
    const m = /^(\d+\.\d+\.\d+\.\d+(?:\/\d+)?)\s/.exec(line.trim());
    if (m && overlap(m[1], block)) found.push(line.trim());
  }
  return found;
}

/** Inputs of the LocalNetwork provider. */
export interface LocalNetworkInputs {
  /** What to build. */
  plan: NetworkPlan;
}

/** Creates and removes an emulated WAN with `ip` and `tc`; needs root. */
export class LocalNetworkProvider implements pulumi.dynamic.ResourceProvider {
  async create(inputs: LocalNetworkInputs): Promise<pulumi.dynamic.CreateResult> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const cp: typeof import("node:child_process") = require("node:child_process");
    const run = (cmd: string[], tolerant = false) => {
      try {
        cp.execFileSync(cmd[0], cmd.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
      } catch (err) {
        if (!tolerant)
          throw new Error(
            `${cmd.join(" ")}: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`,
          );
      }
    };
    const ip = (args: string[]) => cp.execFileSync("ip", args, { encoding: "utf8" });
    const taken = hostConflicts(
      inputs.plan,
      ip(["-4", "-o", "addr", "show"]),
      ip(["-4", "route", "show"]),
    );
    if (taken.length > 0)
      throw new Error(
        `the emulated network's addresses ${inputs.plan.block} are already in use on this machine (${taken.join("; ")}): another shaped local dataplane holds them (see 'skyplane stacks' and deprovision it), or this machine's own network does; run this route unshaped (no network profile) until it is free`,
      );
    try {
      for (const cmd of upCommands(inputs.plan)) run(cmd);
    } catch (err) {
      for (const cmd of downCommands(inputs.plan)) run(cmd, true); // leave nothing half-built
      throw err;
    }
    return { id: inputs.plan.namespaces[0], outs: inputs };
  }

  async diff(
    _id: string,
    olds: LocalNetworkInputs,
    news: LocalNetworkInputs,
  ): Promise<pulumi.dynamic.DiffResult> {
    const changed = JSON.stringify(olds.plan) !== JSON.stringify(news.plan);
    return { changes: changed, replaces: changed ? ["plan"] : [], deleteBeforeReplace: true };
  }

  async read(id: string, props: LocalNetworkInputs): Promise<pulumi.dynamic.ReadResult> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs: typeof import("node:fs") = require("node:fs");
    return fs.existsSync(`/var/run/netns/${id}`) ? { id, props } : {};
  }

  async delete(_id: string, props: LocalNetworkInputs): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const cp: typeof import("node:child_process") = require("node:child_process");
    for (const cmd of downCommands(props.plan)) {
      try {
        cp.execFileSync(cmd[0], cmd.slice(1), { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
  }
}

/** An emulated WAN for one dataplane. */
export class LocalNetwork extends DynamicResource {
  /** What was built. */
  declare readonly plan: pulumi.Output<NetworkPlan>;

  constructor(
    name: string,
    args: { plan: pulumi.Input<NetworkPlan> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super("LocalNetwork", () => new LocalNetworkProvider(), name, args, opts);
  }
}
