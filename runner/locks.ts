import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { processStartedAt } from "../common/process";
import { UserError } from "../errors";
import { PROJECT_NAME } from "./engine";

/*
 * The locks Pulumi's file backend takes on a stack while an update runs. The engine writes
 * `<state>/.pulumi/locks/<org>/<project>/<stack>/<uuid>.json` holding {pid, username, hostname,
 * timestamp} of the `pulumi` process (and a `.json.attrs` sidecar of the blob library beside it), and
 * deletes it when the update ends. An engine that is killed leaves it behind, and every later update
 * of the stack fails with ConcurrentUpdateError. See pkg/backend/diy/lock.go in pulumi/pulumi.
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

/** The locks held on `stack` in the file backend at `state`, each with whether its owner runs. */
export function stackLocks(state: string, stack: string): StackLock[] {
  const locks: StackLock[] = [];
  for (const dir of lockDirs(state, stack)) {
    for (const name of fs.readdirSync(dir)) {
      if (!name.endsWith(".json")) continue;
      const file = path.join(dir, name);
      let content: { pid?: unknown; hostname?: unknown; username?: unknown; timestamp?: unknown };
      try {
        content = JSON.parse(fs.readFileSync(file, "utf8"));
      } catch {
        continue; // removed meanwhile, or being written: an update is starting
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
 * Why an update of `stack` found it locked, as a UserError that says what to do: wait for (or stop)
 * a live owner, or deprovision to recover from one that is gone. Undefined when it holds no lock.
 */
export function lockedError(state: string, stack: string): UserError | undefined {
  const locks = stackLocks(state, stack);
  const live = locks.find((l) => l.owner === "alive");
  if (live) return stackLockedError(stack, live);
  if (locks.length === 0) return undefined;
  return new UserError(
    "STACK_LOCKED",
    `stack ${stack} was left locked by pid ${locks[0].pid}, which is gone (a client killed while it ` +
      `provisioned?): 'skyplane deprovision -y ${stack}' removes the lock and whatever was created, then run the command again.`,
  );
}
