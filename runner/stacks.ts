import * as fs from "node:fs";
import * as path from "node:path";
import { ConcurrentUpdateError, type Stack } from "@pulumi/pulumi/automation";
import { liveStartTime, stopProcess } from "../components/local";
import program from "../index";
import { Engine } from "./engine";
import { removeStaleLocks, StackLock, stackLocks, stackLockedError } from "./locks";

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
  const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
  const ws = await LocalWorkspace.create({ ...engine.workspaceOptions(), program });
  return (await ws.listStacks())
    .map((s): StackInfo => {
      const [lock] = stackLocks(engine.home.state, s.name);
      return {
        name: s.name,
        resources: s.resourceCount ?? 0,
        lastUpdate: s.lastUpdate,
        busy: s.updateInProgress ?? false,
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
  const marker = `--info-file\0${path.join(home, "run", stack)}/`;
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

/** Config of a route's stack that belongs to one dataplane's life and goes with its gateways. */
const DATAPLANE_ONLY_CONFIG = [
  "skyplane:token",
  "skyplane:key",
  "skyplane:storeEnv",
  "skyplane:expireAt",
];

/**
 * Removes a destroyed stack's dataplane secrets (token, key, store credentials) and warm expiry from
 * its config: nothing reuses them, and they no longer sit on disk, even encrypted.
 */
export async function forgetDataplaneSecrets(stack: Stack): Promise<void> {
  await stack.removeAllConfig(DATAPLANE_ONLY_CONFIG); // keys it does not hold are no error
}

/**
 * Destroys a stack (leaving it empty, its config kept for the next `up` but for the dataplane's
 * secrets) and stops stray gateways. A lock left by an engine that no longer runs (a client killed
 * while it provisioned) is removed first, and reported to `onLockRemoved`; a lock whose owner runs
 * is never touched: that is a UserError (STACK_LOCKED).
 */
export async function deprovisionStack(
  engine: Engine,
  name: string,
  onOutput?: (line: string) => void,
  onLockRemoved?: (lock: StackLock) => void,
): Promise<{ destroyed: number; strays: number; locksRemoved: number }> {
  const stack = await engine.stack(name, program);
  const removed = removeStaleLocks(engine.home.state, name);
  for (const lock of removed) onLockRemoved?.(lock);
  let result;
  try {
    result = await stack.destroy({ color: "never", onOutput });
  } catch (err) {
    // Another update took the stack in the meantime: say who holds it rather than the engine's trace.
    const live = stackLocks(engine.home.state, name).find((l) => l.owner === "alive");
    if (err instanceof ConcurrentUpdateError && live) throw stackLockedError(name, live);
    throw err;
  }
  await forgetDataplaneSecrets(stack);
  const strays = strayGateways(engine.home.root, name);
  for (const s of strays) await stopProcess(s.pid, s.startTime, 5000);
  fs.rmSync(path.join(engine.home.root, "run", name), { recursive: true, force: true });
  return {
    destroyed: result.summary.resourceChanges?.delete ?? 0,
    strays: strays.length,
    locksRemoved: removed.length,
  };
}
