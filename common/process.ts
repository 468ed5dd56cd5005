import { SkyplaneError } from "../errors";

/*
 * Process identity on this machine. A pid alone names a process only until it exits and the kernel
 * hands the number to another; the pid with the process's start time (field 22 of /proc/<pid>/stat,
 * in clock ticks after boot) names one process for the life of the host. Gateways, leases, work files,
 * emulators and stack locks are all judged alive or gone this way.
 *
 * The local cloud's dynamic provider (components/local/process.ts) calls these functions from inside
 * the engine's plugin, where Pulumi's serialiser has copied them: they load Node modules with require()
 * inside their bodies, since the serialiser cannot capture module objects such as node:fs, and those it
 * copies throw plain Errors (the engine passes on only their text; a SkyplaneError would copy the whole
 * error table into every process resource's state).
 */

/** What /proc/<pid>/stat says about a process that matters for identifying it. */
export interface ProcStat {
  /** One-letter state: R, S, D, Z (zombie), X (dead), … */
  readonly state: string;
  /** Start time in clock ticks after boot: with the pid, identifies one process for the life of the host. */
  readonly startTime: string;
}

/** One process, for the life of the host. */
export interface ProcessIdentity {
  /** Its pid. */
  readonly pid: number;
  /** Its start time in clock ticks after boot; "0" where /proc could not tell. */
  readonly startTime: string;
}

/**
 * Parses the text of /proc/<pid>/stat. The second field, the command name, may hold spaces and
 * parentheses, so fields are counted from the last ')'. See proc_pid_stat(5): state is field 3,
 * starttime field 22.
 */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(")");
  if (close < 0)
    // eslint-disable-next-line no-restricted-syntax -- serialised into the dynamic provider (above)
    throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const startTime = rest[22 - 3];
  if (rest[0] === undefined || startTime === undefined || !/^\d+$/.test(startTime)) {
    // eslint-disable-next-line no-restricted-syntax -- serialised into the dynamic provider (above)
    throw new Error(`malformed /proc/<pid>/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  }
  return { state: rest[0], startTime };
}

/** The start time of a live (non-zombie) process `pid`, or undefined if there is none. */
export function liveStartTime(pid: number): string | undefined {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs: typeof import("node:fs") = require("node:fs");
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const stat = parseProcStat(text);
  return stat.state === "Z" || stat.state === "X" ? undefined : stat.startTime;
}

/** True when the process `pid` is alive and is the one that started at `startTime`, not a recycled pid. */
export function isSameProcess(pid: number, startTime: string): boolean {
  return liveStartTime(pid) === startTime;
}

/** This process's identity (start time "0" where /proc is missing). */
export function ownProcess(): ProcessIdentity {
  return { pid: process.pid, startTime: liveStartTime(process.pid) ?? "0" };
}

/** Clock ticks per second of /proc/<pid>/stat's start time (USER_HZ: 100 on every Linux build). */
const USER_HZ = 100;

/** Milliseconds since the epoch at which the host booted (`btime` of /proc/stat). */
function bootTimeMs(): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs: typeof import("node:fs") = require("node:fs");
  const btime = /^btime (\d+)$/m.exec(fs.readFileSync("/proc/stat", "utf8"))?.[1];
  if (!btime) throw new SkyplaneError("PROC_UNREADABLE", "/proc/stat has no btime line");
  return Number(btime) * 1000;
}

/** When the live process `pid` started, in ms since the epoch (to a tick), or undefined if there is none. */
export function processStartedAt(pid: number): number | undefined {
  const ticks = liveStartTime(pid);
  return ticks === undefined ? undefined : bootTimeMs() + (Number(ticks) * 1000) / USER_HZ;
}

/**
 * Stops the process (and its process group) identified by pid and start time: SIGTERM, then SIGKILL
 * after `graceMs`. A pid that now names another process is left alone. Resolves to true when it
 * stopped a process, false when there was none to stop.
 */
export async function stopProcess(
  pid: number,
  startTime: string,
  graceMs: number,
): Promise<boolean> {
  if (!isSameProcess(pid, startTime)) return false;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      // Negative pid: the whole group, since the process was started as a group leader (detached).
      process.kill(-pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isSameProcess(pid, startTime)) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  signal("SIGKILL");
  // SIGKILL cannot be caught, but the kernel takes a moment to tear the process down.
  for (let i = 0; i < 200 && isSameProcess(pid, startTime); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (isSameProcess(pid, startTime))
    // eslint-disable-next-line no-restricted-syntax -- serialised into the dynamic provider (above)
    throw new Error(`process ${pid} survived SIGKILL`);
  return true;
}
