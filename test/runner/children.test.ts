import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { SkyplaneClient, SkyplaneError } from "../../runner";
import { ChildGateways, runsAsChildren } from "../../runner/children";
import { runCli, waitFor } from "../helpers/cli";

/** Gateway daemons whose parent is `ppid` (from /proc): the ones a runner started as its children. */
function childGateways(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (parent === ppid && cmd.includes(path.join("daemon", "main.js"))) out.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return out;
}

/* A route on this machine alone: its gateways are the runner's children, with no stack and no engine. */
describe("runner: a route on this machine alone runs its gateways as children", function () {
  this.timeout(120_000);
  let home: string;
  let folder: string;
  const files: Record<string, Buffer> = {};

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-children-"));
    folder = path.join(home, "src");
    fs.mkdirSync(path.join(folder, "sub"), { recursive: true });
    files["a.txt"] = Buffer.from("hello");
    files["sub/b.bin"] = crypto.randomBytes(3 << 20);
    for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(folder, k), v);
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("copies folder to folder with gateways it started itself: no engine run, no stack, none left", async () => {
    const client = new SkyplaneClient({ home });
    const dst = path.join(home, "dst");
    const seen: number[][] = [];
    const result = await client.copy({
      src: folder + "/",
      dst: dst + "/",
      recursive: true,
      // While the copy runs, its gateways are this process's children.
      onProgress: (p) =>
        p.on((e) => {
          if (e.type === "object_done") seen.push(childGateways(process.pid));
        }),
    });
    assert.deepEqual([result.objects, result.bytes], [2, 5 + (3 << 20)]);
    assert.deepEqual(
      [result.provision?.how, result.provision?.engineRuns, result.teardown?.engineRuns],
      ["children", [], []],
    );
    assert.ok(seen.length >= 1 && seen.every((p) => p.length === 1), JSON.stringify(seen));
    for (const [k, v] of Object.entries(files))
      assert.ok(fs.readFileSync(path.join(dst, k)).equals(v), k);
    assert.equal(fs.existsSync(path.join(home, "state")), false, "the engine was never opened");
    assert.equal(liveStartTime(seen[0][0]), undefined, "its gateway is gone after the copy");
    assert.deepEqual(childGateways(process.pid), []);
  });

  it("gives each job on the route its own gateways, whatever plan the others run", async () => {
    const client = new SkyplaneClient({ home });
    const one = client.dataplane("local", "client", "local", "client", { nVms: 1 });
    const two = client.dataplane("local", "client", "local", "client", { nVms: 2 });
    try {
      const reports = [await one.provision(), await two.provision()];
      assert.deepEqual(
        reports.map((r) => r.how),
        ["children", "children"],
      );
      assert.equal(childGateways(process.pid).length, 3, "1 + 2 gateways, side by side");
      assert.equal(await one.deprovision(), true);
      assert.equal(childGateways(process.pid).length, 2, "the other job's gateways keep running");
    } finally {
      await one.deprovision();
      await two.deprovision();
    }
    assert.deepEqual(childGateways(process.pid), []);
  });

  it("is what the planner's client-only routes get, unless an emulated WAN places the client", () => {
    const client = new SkyplaneClient({ home });
    const onClient = client.dataplane("local", "client", "local", "client").topology;
    const toWest = client.dataplane("local", "client", "local", "west").topology;
    // A profile that places the client's region in a namespace of its own (as root, it is shaped).
    const placed = {
      version: 1 as const,
      regions: ["local:client", "local:west"],
      links: { "local:client>local:west": 100, "local:west>local:client": 100 },
      gateway: { egressMbps: 100, ingressMbps: 100 },
    };
    const shaped = process.getuid?.() === 0;
    assert.deepEqual(
      [runsAsChildren(onClient), runsAsChildren(toWest), runsAsChildren(onClient, placed)],
      [true, false, !shaped],
    );
  });

  it("a gateway that cannot start fails the provision with its own words, and nothing is left", async () => {
    const topology = new SkyplaneClient({ home }).dataplane(
      "local",
      "client",
      "local",
      "client",
    ).topology;
    const broken = {
      ...topology,
      // A program version no daemon knows: the daemon refuses it and exits 2.
      gateways: topology.gateways.map((g) => ({
        ...g,
        program: { ...g.program, version: 99 } as unknown as typeof g.program,
      })),
    };
    await assert.rejects(
      ChildGateways.start({
        topology: broken,
        grants: { read: [], write: [] },
        home,
        logDir: path.join(home, "logs"),
        route: "local-client--local-client",
        leaseSeconds: 30,
      }),
      (err: SkyplaneError) => {
        assert.equal(err.code, "PROVISION_FAILED");
        assert.match(err.message, /exited \(code 2\) before it was ready/);
        assert.match(err.message, /the end of its log .*:\n.*version/s);
        return true;
      },
    );
    assert.deepEqual(childGateways(process.pid), []);
  });

  it("a runner killed with SIGKILL takes its gateways with it at once (their stdin ends)", async () => {
    // A runner that provisions a client-only dataplane, says so, and waits to be killed.
    const script = `
      const { SkyplaneClient } = require(${JSON.stringify(path.join(__dirname, "..", "..", "runner"))});
      const dp = new SkyplaneClient({ home: ${JSON.stringify(home)} })
        .dataplane("local", "client", "local", "client", { leaseSeconds: 600 });
      dp.provision().then((r) => { process.stdout.write(r.how + "\\n"); setInterval(() => {}, 1000); });
    `;
    const runner = spawn(process.execPath, ["-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const said = await new Promise<string>((resolve, reject) => {
      runner.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()));
      runner.once("exit", (code) => reject(new Error(`the runner exited with ${code}`)));
    });
    assert.equal(said, "children");
    const pids = childGateways(runner.pid as number);
    assert.equal(pids.length, 1, "one gateway, the runner's child");
    const exited = new Promise((r) => runner.once("exit", r));
    runner.kill("SIGKILL");
    await exited;
    const killedAt = Date.now();
    // Their lease (600 s) and first-contact wait (60 s) are far off: only the closed pipe stops them.
    await waitFor("the gateways to stop", () => pids.every((p) => !liveStartTime(p)), 20_000);
    assert.ok(Date.now() - killedAt < 20_000);
    const log = fs.readFileSync(
      path.join(home, "logs", "local-client--local-client", "local-client-0.log"),
      "utf8",
    );
    assert.match(log, /stopping: its stdin ended: the process that started it is gone/);
  });

  it("cp --keep-warm on such a route says there is nothing to keep, and keeps nothing", () => {
    const r = runCli(home, [
      "cp",
      folder,
      path.join(home, "kept") + "/",
      "-r",
      "-y",
      "--keep-warm",
      "5m",
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /--keep-warm: nothing to keep/);
    assert.match(
      r.stdout,
      /Copied 2 object\(s\).*gateways torn down\. Gateways started on this machine/,
    );
    assert.ok(fs.readFileSync(path.join(home, "kept", "sub", "b.bin")).equals(files["sub/b.bin"]));
    const stacks = runCli(home, ["stacks", "--json"]);
    assert.equal(stacks.status, 0, stacks.stderr);
    assert.deepEqual(JSON.parse(stacks.stdout), [], "no stack, warm or not");
  });

  it("cp --dry-run says there is no stack", () => {
    const r = runCli(home, ["cp", folder, path.join(home, "elsewhere") + "/", "-r", "--dry-run"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Route: {4}local:client → local:client/m);
    assert.match(
      r.stdout,
      /^Stack: {4}none: the gateways run on this machine, as children of this command$/m,
    );
  });
});
