import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { SkyplaneClient } from "../../runner";

const MAIN = path.join(__dirname, "..", "..", "cli", "main.js");

/** The engine's lock files of `stack` in a home (Pulumi's file backend keeps them under the state). */
function lockFiles(home: string, stack: string): string[] {
  const dir = path.join(home, "state", ".pulumi", "locks", "organization", "skyplane", stack);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")) : [];
}

/** Files in a bucket folder that are not objects: work files and upload records (not checksums). */
function workFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name), rel + e.name + "/");
      else out.push(rel + e.name);
    }
  };
  walk(root, "");
  return out.filter((f) => f !== ".skyplane/bucket.json" && !f.startsWith(".skyplane/meta/"));
}

describe("cli: crash safety", function () {
  this.timeout(180_000);
  let home: string | undefined;
  after(() => home && fs.rmSync(home, { recursive: true, force: true }));

  it("after SIGKILL of the CLI mid-transfer, deprovision -y leaves no gateway, an empty stack and no work file", async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-crash-"));
    const env = { ...process.env, SKYPLANE_HOME: home };
    const run = (args: string[]) =>
      spawnSync(process.execPath, [MAIN, ...args], { env, encoding: "utf8", timeout: 120_000 });
    assert.equal(run(["mb", "local://crash-src", "--region", "local:east"]).status, 0);
    assert.equal(run(["mb", "local://crash-dst", "--region", "local:west"]).status, 0);
    const block = crypto.randomBytes(64 << 20);
    const fd = fs.openSync(path.join(home, "buckets", "crash-src", "big.bin"), "w");
    for (let i = 0; i < 12; i++) fs.writeSync(fd, block);
    fs.closeSync(fd);

    const cli = spawn(
      process.execPath,
      [MAIN, "cp", "local://crash-src/big.bin", "local://crash-dst/big.bin", "-y", "--json"],
      {
        env,
        stdio: "ignore",
      },
    );
    const exited = new Promise((r) => cli.once("exit", r));
    // The transfer has started once its multipart upload exists at the destination.
    const dst = path.join(home, "buckets", "crash-dst");
    const uploads = path.join(dst, ".skyplane", "uploads");
    const deadline = Date.now() + 120_000;
    while (!(fs.existsSync(uploads) && fs.readdirSync(uploads).some((u) => !u.startsWith(".")))) {
      assert.ok(Date.now() < deadline && cli.exitCode === null, "the transfer never started");
      await new Promise((r) => setTimeout(r, 5));
    }
    cli.kill("SIGKILL");
    await exited;
    const runDir = path.join(home, "run", "local-east--local-west");
    const pids = fs
      .readdirSync(runDir)
      .map((f) => JSON.parse(fs.readFileSync(path.join(runDir, f), "utf8")).pid as number);
    assert.equal(pids.length, 2);
    assert.ok(
      pids.every((p) => liveStartTime(p)),
      "the gateways outlive the killed client",
    );

    const left = workFiles(dst);
    assert.ok(left.length >= 2, `the killed transfer left work files: ${left.join(", ")}`);

    const r = run(["deprovision", "-y"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /local-east--local-west: destroyed [1-9]\d* resource\(s\)/);
    for (const p of pids) assert.equal(liveStartTime(p), undefined, `gateway ${p} still runs`);
    const stacks = JSON.parse(run(["stacks", "--json"]).stdout) as Array<{
      name: string;
      resources: number;
    }>;
    assert.deepEqual(
      stacks.filter((s) => s.resources > 0),
      [],
      "every stack is empty",
    );
    assert.equal(
      fs.existsSync(path.join(dst, "big.bin")),
      false,
      "no partial object at the destination",
    );
    assert.deepEqual(workFiles(dst), [], "deprovision removed the killed transfer's work files");
  });

  describe("a client killed while it provisions", () => {
    let lockHome: string;
    const route = "local-east--local-west";
    let env: NodeJS.ProcessEnv;
    const run = (args: string[]) =>
      spawnSync(process.execPath, [MAIN, ...args], { env, encoding: "utf8", timeout: 120_000 });
    before(() => {
      lockHome = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-lock-"));
      env = { ...process.env, SKYPLANE_HOME: lockHome };
    });
    after(() => fs.rmSync(lockHome, { recursive: true, force: true }));

    it("leaves a lock that stacks shows as 'locked (owner gone)' and deprovision -y removes, then destroys", async () => {
      assert.equal(run(["mb", "local://lock-src", "--region", "local:east"]).status, 0);
      assert.equal(run(["mb", "local://lock-dst", "--region", "local:west"]).status, 0);
      fs.writeFileSync(
        path.join(lockHome, "buckets", "lock-src", "f.bin"),
        crypto.randomBytes(1 << 20),
      );
      // Its own process group: the client, its engine and the engine's plugins die together (the
      // gateways run in sessions of their own, as they do when a terminal is closed).
      const cli = spawn(
        process.execPath,
        [MAIN, "cp", "local://lock-src/f.bin", "local://lock-dst/f.bin", "-y"],
        { env, stdio: "ignore", detached: true },
      );
      const exited = new Promise((r) => cli.once("exit", r));
      // Mid-`up`: the engine holds the lock and a first gateway has started.
      const runDir = path.join(lockHome, "run", route);
      const deadline = Date.now() + 120_000;
      while (!(
        lockFiles(lockHome, route).length > 0 &&
        fs.existsSync(runDir) &&
        fs.readdirSync(runDir).length > 0
      )) {
        assert.ok(
          Date.now() < deadline && cli.exitCode === null,
          "provisioning never got under way",
        );
        await new Promise((r) => setTimeout(r, 5));
      }
      process.kill(-(cli.pid as number), "SIGKILL");
      await exited;
      const [lock] = lockFiles(lockHome, route);
      const lockDir = path.join(
        lockHome,
        "state",
        ".pulumi",
        "locks",
        "organization",
        "skyplane",
        route,
      );
      const owner = JSON.parse(fs.readFileSync(path.join(lockDir, lock), "utf8")).pid as number;
      for (let i = 0; i < 200 && liveStartTime(owner); i++)
        await new Promise((r) => setTimeout(r, 25));
      assert.equal(liveStartTime(owner), undefined, "the engine that held the lock is gone");
      const gateways = fs
        .readdirSync(runDir)
        .map((f) => JSON.parse(fs.readFileSync(path.join(runDir, f), "utf8")).pid as number);
      assert.ok(
        gateways.length > 0 && gateways.every((p) => liveStartTime(p)),
        "gateways outlive it",
      );

      const listed = run(["stacks"]);
      assert.equal(listed.status, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`${route}\\s+locked \\(owner gone\\)`));
      const json = JSON.parse(run(["stacks", "--json"]).stdout) as Array<{
        name: string;
        lock?: { pid: number; owner: string };
      }>;
      assert.deepEqual(json.find((s) => s.name === route)?.lock, {
        ...json.find((s) => s.name === route)?.lock,
        pid: owner,
        owner: "gone",
      });

      const r = run(["deprovision", "-y"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`stack ${route} was locked by pid ${owner}, which is gone: lock removed`),
      );
      assert.match(r.stdout, new RegExp(`${route}: destroyed [1-9]\\d* resource\\(s\\)`));
      for (const p of gateways)
        assert.equal(liveStartTime(p), undefined, `gateway ${p} still runs`);
      assert.deepEqual(lockFiles(lockHome, route), [], "no lock is left");
      const after = JSON.parse(run(["stacks", "--json"]).stdout) as Array<{
        name: string;
        resources: number;
        lock?: unknown;
      }>;
      assert.deepEqual(
        after.map((s) => [s.name, s.resources, s.lock]),
        [[route, 0, undefined]],
      );
    });

    it("never removes a lock whose owner runs: deprovision refuses, exit 1", async () => {
      // A lock as the engine writes it, held by a process that runs: this test's own.
      const lockDir = path.join(
        lockHome,
        "state",
        ".pulumi",
        "locks",
        "organization",
        "skyplane",
        route,
      );
      fs.mkdirSync(lockDir, { recursive: true });
      const lock = path.join(lockDir, `${crypto.randomUUID()}.json`);
      const content = {
        pid: process.pid,
        username: os.userInfo().username,
        hostname: os.hostname(),
        timestamp: new Date().toISOString(),
      };
      fs.writeFileSync(lock, JSON.stringify(content));
      const cp = run(["cp", "local://lock-src/f.bin", "local://lock-dst/again.bin", "-y"]);
      assert.equal(cp.status, 1, cp.stdout + cp.stderr);
      assert.match(
        cp.stderr,
        new RegExp(`error: stack ${route} is locked by pid ${process.pid} on `),
      );
      const listed = run(["stacks"]);
      assert.match(listed.stdout, new RegExp(`${route}\\s+locked \\(pid ${process.pid}\\)`));
      const r = run(["deprovision", "-y", route]);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `error: stack ${route} is locked by pid ${process.pid} on ${os.hostname()}, which still runs`,
        ),
      );
      assert.ok(fs.existsSync(lock), "the live lock is left alone");

      // Deprovisioning every stack still destroys the ones nobody holds, then refuses.
      // A warm stack whose job has ended (its scope released the lease): nobody holds it.
      const other = new SkyplaneClient({ home: lockHome }).dataplane(
        "local",
        "north",
        "local",
        "south",
        {
          keepWarmSeconds: 120,
        },
      );
      await other.autoDeprovision((dp) => dp.provision());
      const all = run(["deprovision", "-y"]);
      assert.equal(all.status, 1, all.stdout + all.stderr);
      assert.match(all.stdout, /local-north--local-south: destroyed [1-9]\d* resource\(s\)/);
      assert.match(all.stderr, new RegExp(`error: stack ${route} is locked by pid ${process.pid}`));
      assert.ok(fs.existsSync(lock), "the live lock is still left alone");
      fs.rmSync(lock);
    });
  });
});
