import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import {
  downCommands,
  gatewaySubnet,
  NetworkPlan,
  networkTag,
  upCommands,
} from "../components/local/network";

/*
 * The WAN case of bench/peers: each storage emulator lives in a namespace of its own region, the client
 * (this machine's host namespace, where rclone and the runner run) reaches each over a link shaped at
 * `clientMbps`, and the region's skyplane gateways reach it over an unshaped link from their region's
 * router, so that region to region the data crosses only the profile's inter-region link.
 *
 *   host ──(clientMbps)── skpeers-<region> (emulator on 10.216.<r>.2)
 *                               │ (unshaped, wired once the route's routers exist)
 *   gateways ── router sk<tag>r<r> ──(profile link)── router of the other region ── gateways
 *
 * Addresses, inside these namespaces only: 10.216.<r>.1|2/30 host ↔ storage, 10.216.<10+r>.1|2/30
 * router ↔ storage. The local cloud's own emulation uses 10.224.0.0/11 (a /21 per stack).
 */

/** The storage namespace of region index `r`. */
export function storageNamespace(r: number): string {
  return `skpeers-s${r}`;
}

/** The address of region `r`'s storage emulator, the same from the host and from the gateways. */
export function storageAddress(r: number): string {
  return `10.216.${r}.2`;
}

const HOST_IF = (r: number) => `skpeers${r}`;

/** The namespaces and host links of `regions` storage emulators (unshaped: shape() applies the rate). */
export function storagePlan(regions: number): NetworkPlan {
  const idx = [...Array(regions).keys()];
  return {
    namespaces: idx.map(storageNamespace),
    veths: idx.map(
      (r) =>
        [
          { ifname: HOST_IF(r), cidr: `10.216.${r}.1/30` },
          { ns: storageNamespace(r), ifname: "host", cidr: `${storageAddress(r)}/30` },
        ] as const,
    ),
    routes: [],
    gateways: {},
    routers: [],
    tag: "peer",
  };
}

/**
 * The links from each region's router (the stack `stack`'s, which must be up) to its storage namespace,
 * and the routes both ways between the region's gateways and its emulator.
 */
export function wiringPlan(stack: string, regions: number): NetworkPlan {
  const tag = networkTag(stack);
  const idx = [...Array(regions).keys()];
  return {
    namespaces: [],
    veths: idx.map(
      (r) =>
        [
          { ns: `sk${tag}r${r}`, ifname: "peers", cidr: `10.216.${10 + r}.1/30` },
          { ns: storageNamespace(r), ifname: "gw", cidr: `10.216.${10 + r}.2/30` },
        ] as const,
    ),
    routes: idx.flatMap((r) => [
      { ns: `sk${tag}r${r}`, to: `${storageAddress(r)}/32`, via: `10.216.${10 + r}.2` },
      { ns: storageNamespace(r), to: gatewaySubnet(tag, r), via: `10.216.${10 + r}.1` },
    ]),
    gateways: {},
    routers: [],
    tag: "pew",
  };
}

/** The router namespace of region `r` of the local route stack `stack`. */
export function routerNamespace(stack: string, r: number): string {
  return `sk${networkTag(stack)}r${r}`;
}

function run(cmd: string[], tolerant = false): void {
  try {
    execFileSync(cmd[0], cmd.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    if (!tolerant)
      throw new Error(
        `${cmd.join(" ")}: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`,
      );
  }
}

/** Builds `plan`, removing what it built if a step fails. */
export function up(plan: NetworkPlan): void {
  try {
    for (const cmd of upCommands(plan)) run(cmd);
  } catch (err) {
    down(plan);
    throw err;
  }
}

/** Removes what `plan` built (its namespaces take their veths with them); what is gone already is skipped. */
export function down(plan: NetworkPlan): void {
  for (const cmd of downCommands(plan)) run(cmd, true);
}

/** True when the namespace exists. */
export function namespaceExists(ns: string): boolean {
  return fs.existsSync(`/var/run/netns/${ns}`);
}

/**
 * tbf on both ends of each host ↔ storage link: what the client uploads and what it downloads, each at
 * `mbps`. Burst ~10 ms of traffic, queue 400 ms, as the local cloud's own links.
 */
export function shape(plan: NetworkPlan, mbps: number): void {
  const burst = String(Math.max(16 * 1024, Math.round((mbps * 1e6 * 0.01) / 8)));
  const tbf = ["root", "tbf", "rate", `${mbps}mbit`, "burst", burst, "latency", "400ms"];
  for (const [a, b] of plan.veths) {
    for (const end of [a, b]) {
      const tc = end.ns ? ["tc", "-n", end.ns] : ["tc"];
      run([...tc, "qdisc", "replace", "dev", end.ifname, ...tbf]);
    }
  }
}

/** Runs `cmd` in namespace `ns` (as `ip netns exec` does: the pid is the command's own). */
export function inNamespace(ns: string, cmd: string[]): string[] {
  return ["ip", "netns", "exec", ns, ...cmd];
}
