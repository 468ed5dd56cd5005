import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { RouteLeases, topologyDigest } from "../../runner/lease";

const LEASE_JS = path.join(__dirname, "..", "..", "runner", "lease.js");

/** A pid that no longer names a process: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "0"]).pid as number;
}

describe("runner: route leases", function () {
  this.timeout(30_000);
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-lease-"));
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it("counts the leases of live processes only, and removes the others' files", () => {
    const leases = new RouteLeases(home, "r");
    const mine = leases.take("abc", "2 gateway(s)");
    const dead = deadPid();
    fs.writeFileSync(
      path.join(leases.dir, `${dead}-x.json`),
      JSON.stringify({
        id: `${dead}-x`,
        pid: dead,
        startTime: "1",
        topology: "abc",
        plan: "",
        since: "",
      }),
    );
    // Our own pid with another start time: a recycled pid, not us.
    fs.writeFileSync(
      path.join(leases.dir, "recycled.json"),
      JSON.stringify({
        id: "recycled",
        pid: process.pid,
        startTime: "1",
        topology: "abc",
        plan: "",
        since: "",
      }),
    );
    assert.deepEqual(
      leases.live().map((l) => [l.id, l.pid, l.startTime]),
      [[mine, process.pid, liveStartTime(process.pid)]],
    );
    assert.deepEqual(fs.readdirSync(leases.dir), [`${mine}.json`]);
    leases.release(mine);
    assert.deepEqual(leases.live(), []);
  });

  it("tells topologies apart by digest", () => {
    assert.equal(topologyDigest({ a: 1, b: [2] }), topologyDigest({ a: 1, b: [2] }));
    assert.notEqual(topologyDigest({ a: 1, b: [2] }), topologyDigest({ a: 1, b: [3] }));
  });

  it("lets one holder at a time into the lock, in this process", async () => {
    const leases = new RouteLeases(home, "r");
    let inside = 0;
    let most = 0;
    const entered: number[] = [];
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        leases.withLock(async () => {
          most = Math.max(most, ++inside);
          entered.push(i);
          await new Promise((r) => setTimeout(r, 30));
          inside--;
        }),
      ),
    );
    assert.equal(entered.length, 4);
    assert.equal(most, 1);
    assert.equal(fs.existsSync(leases.lockFile), false, "the lock is released");
  });

  it("waits for another process's lock, takes over a dead one's, and gives up on a stuck one with ROUTE_BUSY", async () => {
    const leases = new RouteLeases(home, "r");
    const holder = spawn(
      process.execPath,
      [
        "-e",
        `const { RouteLeases } = require(${JSON.stringify(LEASE_JS)});
         new RouteLeases(${JSON.stringify(home)}, "r").withLock(async () => {
           process.stdout.write("in\\n");
           await new Promise((r) => setTimeout(r, Number(process.argv[1])));
         });`,
        "1500",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise((r) => holder.stdout?.once("data", r));
    const exited = new Promise<number>((r) => holder.once("exit", () => r(Date.now())));
    await assert.rejects(
      leases.withLock(async () => undefined, 300),
      (err: Error & { code?: string }) =>
        err.code === "ROUTE_BUSY" && err.message.includes(`process ${holder.pid}`),
    );
    const enteredAt = await leases.withLock(async () => Date.now());
    assert.ok(enteredAt >= (await exited) - 100, "entered only once the other process let go");

    fs.writeFileSync(leases.lockFile, JSON.stringify({ pid: deadPid(), startTime: "1" }));
    const started = Date.now();
    assert.equal(await leases.withLock(async () => "taken over", 5_000), "taken over");
    assert.ok(Date.now() - started < 2_000);
  });
});
