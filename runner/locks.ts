import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { processStartedAt } from "../common/process";
import { UserError } from "../errors";
import { PROJECT_NAME } from "./engine";

/*
 * The locks Pulumi's file backend takes on a stack while an update runs. The engine writes
 * `<state>/.pulumi/locks/<org>/<project>/<stack>/<uuid>.json` holding {pid, username, hostname,
 * timestamp} of the `pulumi` process (homes made before runner/backend.ts also have a `.json.attrs`
 * sidecar of the blob library beside it), and deletes it when the update ends. An engine that is
 * killed leaves it behind, and every later update of the stack fails with ConcurrentUpdateError. See
 * pkg/backend/diy/lock.go in pulumi/pulumi.
 */

/** A lock on a stack and whether the process that took it still runs. */
export interface StackLock {
  /** The lock file. */
  readonly file: string;
  /** Process id of the engine that took it. */
  readonly pid: number;
  /** Host it ran on. */
  readonly hostname: string;
  /** User it ran as. */
  readonly username: string;
  /** When it took the lock (RFC 3339). */
  readonly timestamp: string;
  /**
   * `gone` when its owner no longer runs on this host (no such pid, or one started after the lock was
   * taken: a recycled pid); `alive` when it runs, or runs on another host, where this one cannot tell.
   */
  readonly owner: "alive" | "gone";
}

/** The folders that hold `stack`'s locks in the file backend at `state` (any organisation). */
function lockDirs(state: string, stack: string): string[] {
  const root = path.join(state, ".pulumi", "locks");
  let orgs: string[];
  try {
    orgs = fs.readdirSync(root);
  } catch {
    return [];
  }
  return orgs
    .map((org) => path.join(root, org, PROJECT_NAME, stack))
    .filter((dir) => fs.existsSync(dir));
}

/**
 * Whether the owner of a lock taken at `takenAt` by `pid` on `hostname` still runs. A process with
 * that pid that started after the lock was taken (with a second of slack for clock granularity) is
 * another process that was given the recycled pid.
 */
export function lockOwner(
  pid: number,
  hostname: string,
  takenAt: number,
  host: string = os.hostname(),
): "alive" | "gone" {
  if (hostname !== host) return "alive"; // another machine's process: not ours to judge
  const startedAt = processStartedAt(pid);
  if (startedAt === undefined) return "gone";
  return startedAt > takenAt + 1000 ? "gone" : "alive";
}

/**
 * A lock the engine began to write and never renamed into place: the blob library writes
 * `<uuid>.json.<hex nanoseconds>.tmp` beside the lock first. The engine counts every file in the
 * folder as a lock (and fails on one it cannot parse), so one left by a killed engine blocks the stack.
 */
const UNFINISHED_LOCK = /\.json\.[0-9a-f]+\.tmp$/;

/** How old an unfinished lock that does not parse must be to be a dead engine's: a write takes µs. */
const UNFINISHED_LOCK_STALE_MS = 10_000;

/** The locks held on `stack` in the file backend at `state`, each with whether its owner runs. */
export function stackLocks(state: string, stack: string): StackLock[] {
  const locks: StackLock[] = [];
  for (const dir of lockDirs(state, stack)) {
    for (const name of fs.readdirSync(dir)) {
      const unfinished = UNFINISHED_LOCK.test(name);
      if (!name.endsWith(".json") && !unfinished) continue;
      const file = path.join(dir, name);
      let content: { pid?: unknown; hostname?: unknown; username?: unknown; timestamp?: unknown };
      try {
        content = JSON.parse(fs.readFileSync(file, "utf8"));
      } catch {
        // Removed meanwhile, or being written (an update is starting), or torn by a kill: only an
        // unfinished one that has stayed so is known to be a dead engine's (pid 0: not written).
        const torn = unfinished ? tornSince(file) : undefined;
        if (torn !== undefined && Date.now() - torn >= UNFINISHED_LOCK_STALE_MS) {
          const timestamp = new Date(torn).toISOString();
          locks.push({
            file,
            pid: 0,
            hostname: os.hostname(),
            username: "",
            timestamp,
            owner: "gone",
          });
        }
        continue;
      }
      const pid = Number(content.pid);
      const hostname = String(content.hostname ?? "");
      const timestamp = String(content.timestamp ?? "");
      const takenAt = Date.parse(timestamp);
      const owner =
        Number.isInteger(pid) && pid > 0 && Number.isFinite(takenAt)
          ? lockOwner(pid, hostname, takenAt)
          : "alive"; // unreadable: never judged gone
      const username = String(content.username ?? "");
      locks.push({ file, pid, hostname, username, timestamp, owner });
    }
  }
  return locks;
}

/** When an unfinished lock file was last written, or undefined when it is gone. */
function tornSince(file: string): number | undefined {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** What became of a lock whose owner is gone, for a message: `stack X <this>`. */
export function goneLockText(lock: StackLock): string {
  return lock.pid > 0
    ? `was locked by pid ${lock.pid}, which is gone`
    : `held a lock file that a killed engine never finished writing (${path.basename(lock.file)})`;
}

/**
 * Removes the locks on `stack` whose owners are gone, so that it can be updated again, and returns
 * them. Refuses (UserError STACK_LOCKED, nothing removed) while any lock's owner still runs.
 */
export function removeStaleLocks(state: string, stack: string): StackLock[] {
  const locks = stackLocks(state, stack);
  const live = locks.find((l) => l.owner === "alive");
  if (live) throw stackLockedError(stack, live);
  for (const lock of locks) {
    fs.rmSync(lock.file, { force: true });
    fs.rmSync(`${lock.file}.attrs`, { force: true });
  }
  return locks;
}

/** The error for a stack that a running process holds (or one on another host may). */
export function stackLockedError(stack: string, lock: StackLock): UserError {
  const here = lock.hostname === os.hostname();
  const who = `pid ${lock.pid} on ${lock.hostname}, which ${here ? "still runs" : "this host cannot check"}`;
  return new UserError(
    "STACK_LOCKED",
    `stack ${stack} is locked by ${who} (user ${lock.username}, since ${lock.timestamp}): ` +
      `wait for it to finish, or stop it and run the command again. ` +
      `Only if no update of this stack runs anywhere, remove ${lock.file} by hand.`,
  );
}

/**
 * Why an update of `stack` that failed found it locked, as a UserError that says what to do:
 * wait for (or stop) a live owner, or deprovision to recover from one that is gone. Undefined when no
 * lock explains the failure. `concurrent`: the engine refused the update as a concurrent one; a lock
 * whose owner is gone also explains other failures (the engine cannot parse one it never finished).
 */
export function lockedError(
  state: string,
  stack: string,
  concurrent: boolean,
): UserError | undefined {
  const locks = stackLocks(state, stack);
  const live = locks.find((l) => l.owner === "alive");
  if (live) return concurrent ? stackLockedError(stack, live) : undefined;
  if (locks.length === 0) return undefined;
  return new UserError(
    "STACK_LOCKED",
    `stack ${stack} ${goneLockText(locks[0])} (a client killed while it provisioned?): ` +
      `'skyplane deprovision -y ${stack}' removes the lock and whatever was created, then run the command again.`,
  );
}
