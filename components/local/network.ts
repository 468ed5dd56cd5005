import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { gatewayCaps, linkMbps, NetworkProfile } from "../../planner/profile";
import { UserError } from "../../errors";

/*
 * The local cloud's emulated WAN. Each region is a router namespace; each gateway gets a namespace of its
 * own, wired to its region's router by a veth pair shaped (tbf) at the gateway's egress and ingress caps;
 * every pair of regions with a link in the profile is a veth pair between their routers, each direction
 * shaped at that direction's rate. The host reaches every router over an unshaped veth, so the runner
 * talks to gateways as it would to cloud VMs. This kernel has no netem, so delay and loss are not
 * emulated: only rates.
 *
 * Addresses come from ranges used nowhere else on this machine, inside these namespaces only:
 *   10.213.<region+1>.<4g+1|4g+2>/30   router ↔ gateway g
 *   10.214.<pair>.<1|2>/30              router ↔ router
 *   10.215.<region>.<1|2>/30            host ↔ router
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
}

/** A short tag for a stack, so that names of different stacks never collide (interface names are short). */
export function networkTag(stack: string): string {
  return crypto.createHash("sha256").update(stack).digest("hex").slice(0, 5);
}

/** Plans the namespaces, links and routes for gateways `gateways` (id → region) under `profile`. */
export function planNetwork(
  profile: NetworkProfile,
  gateways: readonly { readonly id: string; readonly region: string }[],
  tag: string,
): NetworkPlan {
  const regions = [...profile.regions];
  const routerNs = (r: number) => `sk${tag}r${r}`;
  const namespaces: string[] = regions.map((_, r) => routerNs(r));
  const veths: Array<[VethEnd, VethEnd]> = [];
  const routes: Array<{ ns?: string; to: string; via: string }> = [];
  const placed: Record<string, { ns: string; ip: string }> = {};
  regions.forEach((region, r) => {
    // host ↔ router, unshaped: control traffic only.
    veths.push([
      { ifname: `sk${tag}h${r}`, cidr: `10.215.${r}.1/30` },
      { ns: routerNs(r), ifname: "host", cidr: `10.215.${r}.2/30` },
    ]);
    routes.push({ to: `10.213.${r + 1}.0/24`, via: `10.215.${r}.2` });
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
      const base = 4 * i;
      veths.push([
        {
          ns: routerNs(r),
          ifname: `g${i}`,
          cidr: `10.213.${r + 1}.${base + 1}/30`,
          rateMbps: caps.ingressMbps,
        },
        { ns, ifname: "eth0", cidr: `10.213.${r + 1}.${base + 2}/30`, rateMbps: caps.egressMbps },
      ]);
      routes.push({ ns, to: "default", via: `10.213.${r + 1}.${base + 1}` });
      placed[g.id] = { ns, ip: `10.213.${r + 1}.${base + 2}` };
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
        { ns: routerNs(a), ifname: `p${b}`, cidr: `10.214.${pair}.1/30`, rateMbps: ab ?? 0.01 },
        { ns: routerNs(b), ifname: `p${a}`, cidr: `10.214.${pair}.2/30`, rateMbps: ba ?? 0.01 },
      ]);
      routes.push({ ns: routerNs(a), to: `10.213.${b + 1}.0/24`, via: `10.214.${pair}.2` });
      routes.push({ ns: routerNs(b), to: `10.213.${a + 1}.0/24`, via: `10.214.${pair}.1` });
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
  for (const r of plan.routes)
    cmds.push([...(r.ns ? ["ip", "-n", r.ns] : ["ip"]), "route", "replace", r.to, "via", r.via]);
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
export class LocalNetwork extends pulumi.dynamic.Resource {
  /** What was built. */
  declare readonly plan: pulumi.Output<NetworkPlan>;

  constructor(
    name: string,
    args: { plan: pulumi.Input<NetworkPlan> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(new LocalNetworkProvider(), name, args, opts, "skyplane", "LocalNetwork");
  }
}
