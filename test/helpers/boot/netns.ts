import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { liveStartTime } from "../../../common/process";

/*
 * The rehearsal's network: two namespaces, one per VM (the source gateway's and the destination's),
 * joined by one veth pair, each with loopback, which also holds the link-local address of the clouds'
 * metadata services (169.254.169.254). No default route, no interface towards the host: a
 * packet of the rehearsal can reach the other VM or stay inside its own namespace, nothing else. The
 * stand-ins of each VM's cloud listen in its namespace. Everything here is made by the test and removed
 * by it, with every process still inside, even when the test fails.
 */

/** Where the VMs sit. */
export interface RehearsalNetwork {
  /** Namespace names, by VM. */
  readonly src: { readonly ns: string; readonly ip: string };
  readonly dst: { readonly ns: string; readonly ip: string };
  /** Removes the namespaces after ending every process left in them. */
  remove(): Promise<void>;
}

/** The metadata services' address, on every cloud. */
export const METADATA_IP = "169.254.169.254";
/** Names of the rehearsal's namespaces: skyboot<5 hex>s / skyboot<5 hex>d. */
const NAME = /^skyboot[0-9a-f]{5}[sd]$/;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] });

/** Pids of the processes in namespace `ns`. */
export function pidsIn(ns: string): number[] {
  try {
    return ip("netns", "pids", ns).toString().split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Ends every process in `ns` (they are the test's: nothing else can be in a namespace it made). */
async function emptyNamespace(ns: string): Promise<void> {
  const victims = pidsIn(ns).map((pid) => ({ pid, start: liveStartTime(pid) }));
  for (const v of victims) {
    try {
      process.kill(v.pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + 5000;
  while (victims.some((v) => v.start !== undefined && liveStartTime(v.pid) === v.start)) {
    if (Date.now() > deadline) throw new Error(`processes in ${ns} do not end`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function removeNamespace(ns: string): Promise<void> {
  if (!fs.existsSync(`/run/netns/${ns}`)) return;
  await emptyNamespace(ns);
  ip("netns", "del", ns);
}

/**
 * Removes namespaces a killed test run left behind: the rehearsal's names only, and only when no
 * process is in them any more (a live one may belong to a run going on beside this one).
 */
export async function removeStaleNamespaces(): Promise<string[]> {
  const names = fs.existsSync("/run/netns") ? fs.readdirSync("/run/netns") : [];
  const stale = names.filter((n) => NAME.test(n) && pidsIn(n).length === 0);
  for (const ns of stale) await removeNamespace(ns);
  return stale;
}

/** Makes the two VMs' namespaces. */
export async function createRehearsalNetwork(tag: string): Promise<RehearsalNetwork> {
  if (!/^[0-9a-f]{5}$/.test(tag)) throw new TypeError(`tag ${tag}: five hex digits`);
  const src = { ns: `skyboot${tag}s`, ip: "10.216.0.1" };
  const dst = { ns: `skyboot${tag}d`, ip: "10.216.0.2" };
  const remove = async () => {
    for (const vm of [src, dst]) await removeNamespace(vm.ns);
  };
  try {
    for (const vm of [src, dst]) {
      ip("netns", "add", vm.ns);
      ip("-n", vm.ns, "link", "set", "lo", "up");
      // On loopback: this kernel has no dummy interfaces, and an address there is as local.
      ip("-n", vm.ns, "addr", "add", `${METADATA_IP}/32`, "dev", "lo");
    }
    // Made inside the source namespace, one end moved to the other: it never exists in the host's.
    ip("-n", src.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
    ip("-n", src.ns, "link", "set", "eth1", "netns", dst.ns);
    ip("-n", dst.ns, "link", "set", "eth1", "name", "eth0");
    for (const vm of [src, dst]) {
      ip("-n", vm.ns, "addr", "add", `${vm.ip}/30`, "dev", "eth0");
      ip("-n", vm.ns, "link", "set", "eth0", "up");
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { src, dst, remove };
}

/** The routes and links of `ns`, as `ip -j` reports them (for the test's no-route-out check). */
export function describeNamespace(ns: string): {
  links: string[];
  routes: { dst: string; dev: string; gateway?: string }[];
} {
  const links = JSON.parse(ip("-n", ns, "-j", "link", "show").toString()) as { ifname: string }[];
  const routes = JSON.parse(ip("-n", ns, "-j", "route", "show", "table", "all").toString()) as {
    dst: string;
    dev: string;
    gateway?: string;
  }[];
  return { links: links.map((l) => l.ifname).sort(), routes };
}
