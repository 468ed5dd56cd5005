import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { gatewayCommand, gatewayEnv } from "../../gateway-image/launch";
import { GATEWAY_PROGRAM_VERSION } from "../../planner/program";
import { processesOf, runCli, waitFor } from "../helpers/cli";

/*
 * Issue 12 #11: after "folder → local://east, east → west, west → folder" with the home deleted right
 * after, no gateway of that home may run on.
 */
describe("cli: no gateway outlives a clean run", function () {
  this.timeout(400_000);
  const homes: string[] = [];
  after(() => {
    for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
  });

  function freshHome(): string {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-leak-"));
    homes.push(home, `${home}-data`, `${home}-back`);
    assert.equal(runCli(home, ["mb", "local://east", "--region", "local:east"]).status, 0);
    assert.equal(runCli(home, ["mb", "local://west", "--region", "local:west"]).status, 0);
    fs.mkdirSync(`${home}-data`);
    fs.writeFileSync(path.join(`${home}-data`, "a.bin"), crypto.randomBytes(3_000_000));
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(`${home}-data`, `f${i}.txt`), `f${i}\n`);
    return home;
  }

  /** Waits until no process names `home` on its command line; resolves to how many were scanned. */
  async function noneLeft(home: string): Promise<number> {
    let last = processesOf(home);
    await waitFor(
      `the gateways of ${home} to exit (left: ${last.pids.join(", ")})`,
      () => (last = processesOf(home)).pids.length === 0,
      20_000,
    ).catch((err) => {
      for (const pid of last.pids) process.kill(pid, "SIGKILL"); // ours: named under our home
      throw err;
    });
    return last.scanned;
  }

  it("three copies, the home deleted right after: zero gateway processes of that home", async () => {
    const home = freshHome();
    const steps = [
      ["cp", `${home}-data`, "local://east/data", "-r", "-y"],
      ["cp", "local://east/data", "local://west/data", "-r", "-y"],
      ["cp", "local://west/data", `${home}-back`, "-r", "-y"],
    ];
    for (const step of steps) {
      const r = runCli(home, step);
      assert.equal(r.status, 0, `${step.join(" ")}: ${r.stderr}`);
    }
    assert.equal(
      fs
        .readFileSync(path.join(`${home}-back`, "a.bin"))
        .compare(fs.readFileSync(path.join(`${home}-data`, "a.bin"))),
      0,
    );
    fs.rmSync(home, { recursive: true });
    assert.ok((await noneLeft(home)) > 0, "looked at the machine's processes");
    assert.equal(fs.existsSync(home), false, "nothing re-created the home");
  });

  it("a gateway the stack never recorded (a create cut short) is stopped by the next teardown", async () => {
    const home = freshHome();
    const stack = "local-east--local-west";
    // What a create whose result was lost leaves behind: a daemon of the stack's (detached, as the
    // local cloud starts them), unknown to its state.
    const program = {
      version: GATEWAY_PROGRAM_VERSION,
      gatewayId: "west-0",
      region: "local:west",
      operators: [{ op: "receive", next: { op: "write_object_store", bucket: "local://west" } }],
    };
    const infoFile = path.join(home, "run", stack, "cut-short", "west-0.json");
    const [cmd, ...args] = gatewayCommand(undefined, infoFile);
    const token = crypto.randomBytes(24).toString("base64url");
    const stray = spawn(cmd, args, {
      detached: true,
      stdio: "ignore",
      env: {
        PATH: process.env.PATH,
        ...gatewayEnv(home, token, undefined, JSON.stringify(program)),
      },
    });
    stray.unref();
    await waitFor("the stray gateway to listen", () => fs.existsSync(infoFile), 30_000);
    const pid = stray.pid as number;
    const startTime = liveStartTime(pid) as string;
    assert.ok(startTime);
    const r1 = runCli(home, ["cp", `${home}-data`, "local://east/data", "-r", "-y"]);
    assert.equal(r1.status, 0, r1.stderr);
    const r2 = runCli(home, ["cp", "local://east/data", "local://west/data", "-r", "-y"]);
    assert.equal(r2.status, 0, r2.stderr);
    assert.notEqual(
      liveStartTime(pid),
      startTime,
      "the copy's teardown stopped the stray gateway of its stack",
    );
    assert.ok((await noneLeft(home)) > 0);
  });
});
