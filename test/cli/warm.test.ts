import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { routeRecordFile } from "../../runner/route-record";
import {
  gatewayPids,
  processesOf,
  runCli,
  startCli,
  uploadBytes,
  waitFor,
  workFiles,
  writeBigFile,
} from "../helpers/cli";

const STACK = "local-east--local-west";

/** The JSON result of `skyplane cp … --json`. */
function result(stdout: string): {
  objects: number;
  provision: { how: string; reason?: string; engineRuns: Array<{ command: string }> };
  warmUntil?: string;
} {
  return JSON.parse(stdout.trim().split("\n").pop() as string);
}

/* `cp --keep-warm`: a route kept warm for later copies, shown by `stacks`, ended by `deprovision`. */
describe("cli: warm routes", function () {
  this.timeout(400_000);
  let home: string;
  let dst: string;

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-warmcli-"));
    assert.equal(runCli(home, ["mb", "local://wc-src", "--region", "local:east"]).status, 0);
    assert.equal(runCli(home, ["mb", "local://wc-dst", "--region", "local:west"]).status, 0);
    fs.writeFileSync(path.join(home, "buckets", "wc-src", "small.txt"), "abc");
    dst = path.join(home, "buckets", "wc-dst");
  });
  after(() => {
    runCli(home, ["deprovision", "-y", "--force"]);
    fs.rmSync(home, { recursive: true, force: true });
  });

  const cp = (key: string, extra: string[] = ["--keep-warm", "10m"]) =>
    runCli(home, [
      "cp",
      "local://wc-src/small.txt",
      `local://wc-dst/${key}`,
      "-y",
      "--json",
      ...extra,
    ]);

  it("refuses a --keep-warm that is not a duration, or longer than a day, before anything starts", () => {
    for (const [bad, message] of [
      ["10x", /--keep-warm takes a duration such as 10m, 90s or 1h30m/],
      ["25h", /--keep-warm must be from 0 to 24 h/],
    ] as const) {
      const r = cp("never", ["--keep-warm", bad]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, message);
    }
    assert.equal(fs.existsSync(path.join(dst, "never")), false);
    assert.equal(fs.existsSync(path.join(home, "state", ".pulumi", "stacks")), false, "no stack");
  });

  it("keeps the route warm, takes it as it is on the next copy, shows it, and deprovision ends it", () => {
    const cold = cp("a");
    assert.equal(cold.status, 0, cold.stderr);
    const first = result(cold.stdout);
    assert.equal(first.provision.how, "engine");
    assert.ok(first.warmUntil && Date.parse(first.warmUntil) > Date.now() + 9 * 60_000);
    const pids = gatewayPids(home, STACK);
    assert.equal(pids.length, 2);

    const hot = cp("b");
    assert.equal(hot.status, 0, hot.stderr);
    const second = result(hot.stdout);
    assert.equal(second.provision.how, "warm");
    assert.deepEqual(second.provision.engineRuns, [], "the engine never ran");
    assert.equal(second.warmUntil, first.warmUntil, "the same warm period");
    assert.deepEqual(gatewayPids(home, STACK), pids, "the same gateways");
    assert.equal(fs.readFileSync(path.join(dst, "b"), "utf8"), "abc");

    const human = runCli(home, ["stacks"]);
    assert.match(human.stdout, new RegExp(`${STACK}\\s+warm until ${first.warmUntil}`));
    const listed = JSON.parse(runCli(home, ["stacks", "--json"]).stdout) as Array<{
      name: string;
      warm?: { until: string; expired: boolean };
    }>;
    assert.deepEqual(listed.find((s) => s.name === STACK)?.warm, {
      until: first.warmUntil,
      expired: false,
    });

    const down = runCli(home, ["deprovision", "-y", STACK]);
    assert.equal(down.status, 0, down.stderr);
    for (const p of pids) assert.equal(liveStartTime(p), undefined, `gateway ${p} stopped`);
    assert.equal(fs.existsSync(routeRecordFile(home, STACK)), false, "its record is gone");
    assert.match(runCli(home, ["stacks"]).stdout, new RegExp(`${STACK}\\s+empty`));
    const again = result(cp("c").stdout);
    assert.equal(again.provision.reason, "no-record", "cold again");
  });

  it("after a client is killed mid-transfer on a warm route, the next copy takes the route as it is", async () => {
    const src = path.join(home, "buckets", "wc-src");
    writeBigFile(path.join(src, "big.bin"), 6);
    const pids = gatewayPids(home, STACK);
    assert.equal(pids.length, 2, "warm from the test before");
    const killed = startCli(home, [
      "cp",
      "local://wc-src/big.bin",
      "local://wc-dst/big.bin",
      "-y",
      "--keep-warm",
      "10m",
    ]);
    await waitFor("the big copy to write", () => uploadBytes(dst) > 0, 120_000);
    killed.child.kill("SIGKILL");
    await killed.exited;
    assert.ok(
      pids.every((p) => liveStartTime(p)),
      "the warm gateways outlive the killed client",
    );
    const next = cp("d");
    assert.equal(next.status, 0, next.stderr);
    assert.equal(result(next.stdout).provision.how, "warm");
    assert.equal(fs.readFileSync(path.join(dst, "d"), "utf8"), "abc");
    assert.equal(fs.existsSync(path.join(dst, "big.bin")), false, "no partial object");

    const down = runCli(home, ["deprovision", "-y"]);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(workFiles(dst), [], "deprovision removed the killed copy's work files");
    const left = processesOf(home);
    assert.ok(left.scanned > 0);
    assert.deepEqual(left.pids, [], "no process of this home runs");
  });
});
