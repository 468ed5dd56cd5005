import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { lockOwner, removeStaleLocks, stackLocks } from "../../runner/locks";

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
});
