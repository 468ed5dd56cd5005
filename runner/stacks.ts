import * as fs from "node:fs";
import * as path from "node:path";
import { liveStartTime, stopProcess } from "../components/local";
import program from "../index";
import { UserError } from "../errors";
import { Engine } from "./engine";
import { describeHolders, RouteLeases } from "./lease";

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
}

/** The stacks in the engine's home. */
export async function listStacks(engine: Engine): Promise<StackInfo[]> {
  const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
  const ws = await LocalWorkspace.create({ ...engine.workspaceOptions(), program });
  return (await ws.listStacks())
    .map((s) => ({
      name: s.name,
      resources: s.resourceCount ?? 0,
      lastUpdate: s.lastUpdate,
      busy: s.updateInProgress ?? false,
    }))
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

/**
 * Stops the gateway daemons of `stack` in `home` that still run after its destroy (ones the state never
 * recorded, e.g. a create cut short) and removes the stack's run files; resolves to how many it stopped.
 */
export async function stopStrayGateways(home: string, stack: string): Promise<number> {
  const strays = strayGateways(home, stack);
  for (const s of strays) await stopProcess(s.pid, s.startTime, 5000);
  fs.rmSync(path.join(home, "run", stack), { recursive: true, force: true });
  return strays.length;
}

/**
 * Destroys a stack (leaving it empty, its config kept for the next `up`) and stops stray gateways.
 * A stack that a running job holds (a live lease) is left alone, unless `force`.
 */
export async function deprovisionStack(
  engine: Engine,
  name: string,
  onOutput?: (line: string) => void,
  opts: { force?: boolean } = {},
): Promise<{ destroyed: number; strays: number }> {
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
    const stack = await engine.stack(name, program);
    const result = await stack.destroy({ color: "never", onOutput });
    const strays = await stopStrayGateways(engine.home.root, name);
    return { destroyed: result.summary.resourceChanges?.delete ?? 0, strays };
  });
}
