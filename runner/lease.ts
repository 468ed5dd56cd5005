import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { liveStartTime, ownProcess } from "../common/process";
import { UserError } from "../errors";

/*
 * Several clients may run jobs on one route at once; the route's stack (its gateways) is shared. Each
 * running job holds a lease: a file `<home>/leases/<stack>/<id>.json` naming its process (pid and start
 * time, so that a recycled pid is not taken for it). A lease whose process is gone does not count. The
 * stack is destroyed only by the job that leaves last, and a different topology is refused while
 * another job holds the route. Taking and checking leases happens under the route's lock,
 * `<home>/leases/<stack>.lock`, created with link(2) so that exactly one process holds it.
 */

/** One running job's claim on a route's stack. */
export interface Lease {
  /** Unique id (the file's name without `.json`). */
  readonly id: string;
  /** Process that holds it. */
  readonly pid: number;
  /** That process's start time (clock ticks after boot, from /proc/<pid>/stat). */
  readonly startTime: string;
  /** Digest of the topology it runs, so that another job can tell whether it may share the gateways. */
  readonly topology: string;
  /** The topology in a few words, for messages. */
  readonly plan: string;
  /** When it was taken (ISO 8601). */
  readonly since: string;
}

/** How long `withLock` waits for another process to finish provisioning or tearing down. Default 10 min. */
export const LOCK_TIMEOUT_MS = 10 * 60_000;

/** A digest that is the same for equal topologies (and network profiles), and differs otherwise. */
export function topologyDigest(value: unknown): string {
  return crypto.createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

/** The leases of one route's stack in a skyplane home. */
export class RouteLeases {
  /** Folder of the lease files. */
  readonly dir: string;
  /** The route's lock file. */
  readonly lockFile: string;
  private readonly self: { pid: number; startTime: string };

  constructor(
    home: string,
    /** The route's stack name. */
    readonly stack: string,
  ) {
    this.dir = path.join(home, "leases", stack);
    this.lockFile = path.join(home, "leases", `${stack}.lock`);
    this.self = ownProcess();
  }

  /**
   * Runs `fn` holding the route's lock: waits (up to `timeoutMs`) while another live process holds
   * it, and takes over a lock whose process is gone.
   */
  async withLock<T>(fn: () => Promise<T>, timeoutMs = LOCK_TIMEOUT_MS): Promise<T> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const mine = JSON.stringify({ ...this.self, nonce: crypto.randomBytes(8).toString("hex") });
    const tmp = `${this.lockFile}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
    fs.writeFileSync(tmp, mine, { mode: 0o600 });
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        try {
          fs.linkSync(tmp, this.lockFile); // fails if the file exists: one holder at a time
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        const holder = readJson<{ pid: number; startTime: string }>(this.lockFile);
        if (holder && liveStartTime(holder.pid) !== holder.startTime) {
          this.breakStaleLock(holder);
          continue;
        }
        if (Date.now() > deadline) {
          throw new UserError(
            "ROUTE_BUSY",
            `route ${this.stack} has been locked by process ${holder?.pid ?? "?"} (provisioning or tearing down) for over ${Math.round(timeoutMs / 1000)} s: ` +
              `wait for it, or if it is stuck end it and run 'skyplane deprovision -y ${this.stack}'`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    try {
      return await fn();
    } finally {
      // Ours only: never remove a lock another process took over.
      if (readText(this.lockFile) === mine) fs.rmSync(this.lockFile, { force: true });
    }
  }

  /** Live leases (removing the files of those whose process is gone). */
  live(): Lease[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((n) => n.endsWith(".json"));
    } catch {
      return [];
    }
    const leases: Lease[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      const lease = readJson<Lease>(file);
      if (lease && liveStartTime(lease.pid) === lease.startTime) leases.push(lease);
      else if (lease) fs.rmSync(file, { force: true });
    }
    return leases.sort((a, b) => a.since.localeCompare(b.since));
  }

  /** Takes a lease for this process running `topology` (a digest; `plan` says it in words); returns its id. */
  take(topology: string, plan: string): string {
    const id = `${process.pid}-${crypto.randomBytes(6).toString("hex")}`;
    const lease: Lease = { id, ...this.self, topology, plan, since: new Date().toISOString() };
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${id}.json`);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(lease), { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
    return id;
  }

  /** Gives a lease back. */
  release(id: string): void {
    fs.rmSync(path.join(this.dir, `${id}.json`), { force: true });
  }

  /** Removes a lock whose process is gone, unless another process replaced it meanwhile. */
  private breakStaleLock(stale: { pid: number; startTime: string }): void {
    const aside = `${this.lockFile}.stale.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
    try {
      fs.renameSync(this.lockFile, aside);
    } catch {
      return; // someone else broke it first
    }
    const moved = readJson<{ pid: number; startTime: string }>(aside);
    if (moved && (moved.pid !== stale.pid || moved.startTime !== stale.startTime)) {
      // A live holder took the lock between our read and the rename: give it back.
      try {
        fs.linkSync(aside, this.lockFile);
      } catch {
        // a third process holds it now; the one we moved will see its lock gone and fail loudly
      }
    }
    fs.rmSync(aside, { force: true });
  }
}

/** A sentence naming the processes that hold leases, e.g. "process 123 (since 01:02:03Z)". */
export function describeHolders(leases: readonly Lease[]): string {
  const pids = [...new Set(leases.map((l) => l.pid))];
  return pids
    .map((pid) => {
      const since = leases.find((l) => l.pid === pid)?.since;
      return `process ${pid}${since ? ` (since ${since})` : ""}`;
    })
    .join(", ");
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}
