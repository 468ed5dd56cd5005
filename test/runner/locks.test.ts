import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { lockedError, lockOwner, removeStaleLocks, stackLocks } from "../../runner/locks";

describe("runner/locks", () => {
  let state: string;
  beforeEach(() => {
    state = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-locks-"));
  });
  afterEach(() => fs.rmSync(state, { recursive: true, force: true }));

  it("judges a lock's owner by pid and start time, and never one on another host", () => {
    const host = os.hostname();
    const started = Date.now() - process.uptime() * 1000;
    assert.equal(lockOwner(process.pid, host, Date.now()), "alive");
    assert.equal(lockOwner(process.pid, host, started + 5000), "alive", "taken after it started");
    // A lock taken an hour before this process started was another process's: the pid was recycled.
    assert.equal(lockOwner(process.pid, host, started - 3_600_000), "gone");
    const exited = spawnSync(process.execPath, ["-e", "0"]).pid as number;
    assert.equal(lockOwner(exited, host, Date.now()), "gone");
    assert.equal(lockOwner(exited, "some-other-host", Date.now()), "alive", "cannot tell: alive");
  });

  it("removes only locks whose owners are gone, with their sidecars, and refuses while one runs", () => {
    const dir = path.join(state, ".pulumi", "locks", "organization", "skyplane", "a--b");
    fs.mkdirSync(dir, { recursive: true });
    const write = (id: string, pid: number) => {
      const lock = {
        pid,
        username: "u",
        hostname: os.hostname(),
        timestamp: new Date().toISOString(),
      };
      fs.writeFileSync(path.join(dir, `${id}.json`), JSON.stringify(lock));
      fs.writeFileSync(path.join(dir, `${id}.json.attrs`), "{}");
    };
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid as number;
    write("dead", gone);
    write("live", process.pid);
    assert.deepEqual(
      stackLocks(state, "a--b")
        .map((l) => [path.basename(l.file), l.pid, l.owner])
        .sort(),
      [
        ["dead.json", gone, "gone"],
        ["live.json", process.pid, "alive"],
      ],
    );
    assert.throws(
      () => removeStaleLocks(state, "a--b"),
      (e: Error & { code?: string }) =>
        e.code === "STACK_LOCKED" && e.message.includes(`locked by pid ${process.pid}`),
    );
    assert.equal(fs.readdirSync(dir).length, 4, "nothing removed while a lock's owner runs");
    fs.rmSync(path.join(dir, "live.json"));
    fs.rmSync(path.join(dir, "live.json.attrs"));
    assert.deepEqual(
      removeStaleLocks(state, "a--b").map((l) => l.pid),
      [gone],
    );
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.deepEqual(stackLocks(state, "no-such-stack"), []);
  });

  it("counts a lock file the engine never renamed into place, and removes it once its writer is gone", () => {
    const dir = path.join(state, ".pulumi", "locks", "organization", "skyplane", "a--b");
    fs.mkdirSync(dir, { recursive: true });
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid as number;
    const lock = (pid: number) =>
      JSON.stringify({
        pid,
        username: "u",
        hostname: os.hostname(),
        timestamp: new Date().toISOString(),
      });
    // Written in full by an engine killed before its rename: its pid says it is gone.
    fs.writeFileSync(path.join(dir, "full.json.18a2b3c4d5e6f708.tmp"), lock(gone));
    // Torn by a kill: nothing to parse. Fresh, it may be a write under way (microseconds): not a lock yet.
    const torn = path.join(dir, "torn.json.18a2b3c4d5e6f709.tmp");
    fs.writeFileSync(torn, "");
    // Neither a lock nor an unfinished one: left alone.
    fs.writeFileSync(path.join(dir, "notes.txt"), "x");
    assert.deepEqual(
      stackLocks(state, "a--b").map((l) => [path.basename(l.file), l.pid, l.owner]),
      [["full.json.18a2b3c4d5e6f708.tmp", gone, "gone"]],
    );
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(torn, old, old);
    const locks = stackLocks(state, "a--b")
      .map((l) => [path.basename(l.file), l.pid, l.owner])
      .sort();
    assert.deepEqual(locks, [
      ["full.json.18a2b3c4d5e6f708.tmp", gone, "gone"],
      ["torn.json.18a2b3c4d5e6f709.tmp", 0, "gone"],
    ]);
    // The engine fails on such a file with a JSON error, not as a concurrent update: still explained.
    const err = lockedError(state, "a--b", false);
    assert.equal(err?.code, "STACK_LOCKED");
    assert.match(err.message, /skyplane deprovision -y a--b/);
    assert.equal(removeStaleLocks(state, "a--b").length, 2);
    assert.deepEqual(fs.readdirSync(dir), ["notes.txt"]);
    assert.equal(lockedError(state, "a--b", false), undefined, "no lock left to explain a failure");
  });

  it("blames a live lock only for a refusal as a concurrent update", () => {
    const dir = path.join(state, ".pulumi", "locks", "organization", "skyplane", "a--b");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, "live.json"),
      JSON.stringify({
        pid: process.pid,
        username: "u",
        hostname: os.hostname(),
        timestamp: new Date().toISOString(),
      }),
    );
    assert.match(lockedError(state, "a--b", true)?.message ?? "", /still runs/);
    assert.equal(lockedError(state, "a--b", false), undefined);
  });
});
