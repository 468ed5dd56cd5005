import * as fs from "node:fs";
import * as path from "node:path";
import type { Stack } from "@pulumi/pulumi/automation";
import { homeLayout } from "../common/paths";
import { liveStartTime, stopProcess } from "../common/process";
import { UserError } from "../errors";
import { Engine } from "./engine";
import { describeHolders, RouteLeases } from "./lease";
import { removeStaleLocks, StackLock, stackLocks, stackLockedError } from "./locks";
import { peekRouteRecord, removeRouteRecord } from "./route-record";
import { cleanupDestinations } from "./worksites";

/** A skyplane stack and what it holds. */
export interface StackInfo {
  /** The stack (route) name. */
  readonly name: string;
  /** Resources in it; 0 when it is empty (deprovisioned). */
  readonly resources: number;
  /** When it last changed. */
  readonly lastUpdate?: string;
  /** True while an `up` or `destroy` runs on it. */
  readonly busy: boolean;
  /**
   * Set when its gateways are kept warm (`keepWarmSeconds`, `--keep-warm`): when they end on their
   * own, and whether that time has passed (they are gone; the next job starts new ones).
   */
  readonly warm?: { readonly until: string; readonly expired: boolean };
  /** The engine's lock on it, if any: taken by an update that runs, or left by one that was killed. */
  readonly lock?: {
    readonly pid: number;
    readonly hostname: string;
    readonly timestamp: string;
    readonly owner: "alive" | "gone";
  };
}

/** The stacks in the engine's home. */
export async function listStacks(engine: Engine): Promise<StackInfo[]> {
  return (await (await engine.workspace()).listStacks())
    .map((s): StackInfo => {
      const [lock] = stackLocks(engine.home.state, s.name);
      const resources = s.resourceCount ?? 0;
      const expireAt =
        resources > 0 ? peekRouteRecord(engine.home.root, s.name)?.expireAt : undefined;
      return {
        name: s.name,
        resources,
        lastUpdate: s.lastUpdate,
        busy: s.updateInProgress ?? false,
        ...(expireAt !== undefined && {
          warm: { until: new Date(expireAt).toISOString(), expired: expireAt <= Date.now() },
        }),
        ...(lock && {
          lock: {
            pid: lock.pid,
            hostname: lock.hostname,
            timestamp: lock.timestamp,
            owner: lock.owner,
          },
        }),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Gateway daemons of `stack` started from this home that still run: found by the run file each one is
 * told to write (`--info-file <home>/run/<stack>/…`), which only skyplane passes. Catches what a crash
 * left behind before Pulumi could record it.
 */
export function strayGateways(
  home: string,
  stack: string,
): Array<{ pid: number; startTime: string }> {
  const marker = `--info-file\0${path.join(homeLayout(home).run, stack)}/`;
  const found: Array<{ pid: number; startTime: string }> = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue; // gone, or not ours to read
    }
    if (!cmdline.includes(marker)) continue;
    const startTime = liveStartTime(Number(entry));
    if (startTime) found.push({ pid: Number(entry), startTime });
  }
  return found;
}

/**
 * Stops the gateway daemons of `stack` in `home` that still run after its destroy (ones the state never
 * recorded, e.g. a create cut short) and removes the stack's run files; resolves to how many it stopped.
 */
export async function stopStrayGateways(home: string, stack: string): Promise<number> {
  const strays = strayGateways(home, stack);
  for (const s of strays) await stopProcess(s.pid, s.startTime, 5000);
  fs.rmSync(path.join(homeLayout(home).run, stack), { recursive: true, force: true });
  return strays.length;
}

/**
 * Config of a route's stack that belongs to one dataplane's life and goes with its gateways. The
 * runner hands the secrets among them to the program directly; stacks of earlier versions, and stacks
 * set up by hand, hold them here.
 */
export const DATAPLANE_ONLY_CONFIG = [
  "skyplane:token",
  "skyplane:key",
  "skyplane:storeEnv",
  "skyplane:expireAt",
];

/**
 * Removes a destroyed stack's dataplane secrets (token, key, store credentials) and warm expiry from
 * its config, and its route record: nothing reuses them, and they no longer sit on disk, even encrypted.
 */
export async function forgetDataplaneSecrets(engine: Engine, stack: Stack): Promise<void> {
  removeRouteRecord(engine.home.root, stack.name);
  await engine.updateConfig(stack, {}, DATAPLANE_ONLY_CONFIG); // keys it does not hold are no error
}

/**
 * Destroys a stack (leaving it empty, its config kept for the next `up` but for the dataplane's
 * secrets) and stops stray gateways. A stack that a running job holds (a live lease) is left alone,
 * unless `force`. A lock left by an engine that no longer runs (a client killed while it provisioned)
 * is removed first, and reported to `onLockRemoved`; a lock whose owner runs is never touched: that is
 * a UserError (STACK_LOCKED). Work files that gateways and clients killed mid-write left in its destinations are removed too.
 */
export async function deprovisionStack(
  engine: Engine,
  name: string,
  onOutput?: (line: string) => void,
  opts: { force?: boolean; onLockRemoved?: (lock: StackLock) => void } = {},
): Promise<{ destroyed: number; strays: number; locksRemoved: number; workFiles: number }> {
  const leases = new RouteLeases(engine.home.root, name);
  return leases.withLock(async () => {
    const holders = leases.live();
    if (holders.length > 0 && !opts.force) {
      throw new UserError(
        "ROUTE_BUSY",
        `stack ${name} is in use by ${describeHolders(holders)}: it tears the gateways down when it ends; ` +
          `to destroy them now anyway (its transfer fails), run 'skyplane deprovision -y --force ${name}'`,
      );
    }
    const stack = await engine.stack(name);
    const removed = removeStaleLocks(engine.home.state, name);
    for (const lock of removed) opts.onLockRemoved?.(lock);
    // What it holds now is what the destroy deletes (the stack resource itself aside).
    const held = Math.max(0, (engine.resourceCount(name) ?? 0) - 1);
    // The gateways are going: nothing may take them for warm ones from now on.
    removeRouteRecord(engine.home.root, name);
    try {
      await engine.destroy(stack, { onOutput });
    } catch (err) {
      // Another update took the stack in the meantime: say who holds it rather than the engine's trace.
      const live = stackLocks(engine.home.state, name).find((l) => l.owner === "alive");
      if (engine.isConcurrentUpdate(err) && live) throw stackLockedError(name, live);
      throw err;
    }
    await forgetDataplaneSecrets(engine, stack);
    const strays = await stopStrayGateways(engine.home.root, name);
    const workFiles = await cleanupDestinations({ home: engine.home.root }, name);
    return {
      destroyed: held,
      strays,
      locksRemoved: removed.length,
      workFiles,
    };
  });
}
