import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import {
  gatewayPids,
  processesOf,
  runCli,
  startCli,
  uploadBytes,
  waitFor,
  writeBigFile,
} from "../helpers/cli";

const STACK = "local-east--local-west";

function sha256(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/* Two copies on one route share its stack: neither tears the gateways down under the other. */
describe("cli: two copies on one route", function () {
  this.timeout(400_000);
  let home: string;
  let src: string;
  let dst: string;

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-share-"));
    assert.equal(runCli(home, ["mb", "local://sh-src", "--region", "local:east"]).status, 0);
    assert.equal(runCli(home, ["mb", "local://sh-dst", "--region", "local:west"]).status, 0);
    src = path.join(home, "buckets", "sh-src");
    dst = path.join(home, "buckets", "sh-dst");
    writeBigFile(path.join(src, "big.bin"), 6); // 384 MiB: the long copy
    fs.mkdirSync(path.join(src, "small"));
    for (let i = 0; i < 5; i++)
      fs.writeFileSync(path.join(src, "small", `f${i}.bin`), crypto.randomBytes(100_000 + i));
  });
  after(() => {
    runCli(home, ["deprovision", "-y", "--force"]);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("started at once, a long and a short copy both succeed, and the last one tears down", async () => {
    const long = startCli(home, ["cp", "local://sh-src/big.bin", "local://sh-dst/big.bin", "-y"]);
    const short = startCli(home, [
      "cp",
      "local://sh-src/small",
      "local://sh-dst/small",
      "-r",
      "-y",
    ]);
    const [s, l] = await Promise.all([short.exited, long.exited]);
    assert.equal(s.code, 0, `short copy: ${short.stderr()}`);
    assert.equal(l.code, 0, `long copy: ${long.stderr()}`);
    // What this test is about: the short one ended while the long one still used the gateways.
    assert.ok(s.at < l.at, "the short copy finished first");
    assert.equal(sha256(path.join(dst, "big.bin")), sha256(path.join(src, "big.bin")));
    for (let i = 0; i < 5; i++)
      assert.equal(
        sha256(path.join(dst, "small", `f${i}.bin`)),
        sha256(path.join(src, "small", `f${i}.bin`)),
      );
    const stacks = JSON.parse(runCli(home, ["stacks", "--json"]).stdout) as Array<{
      name: string;
      resources: number;
    }>;
    assert.deepEqual(
      stacks.map((x) => [x.name, x.resources]),
      [[STACK, 0]],
      "torn down after the last copy",
    );
    const procs = processesOf(home);
    assert.ok(procs.scanned > 0);
    assert.deepEqual(procs.pids, [], "no gateway left");
    assert.deepEqual(fs.readdirSync(path.join(home, "leases", STACK)), [], "no lease left");
  });

  it("refuses a different topology on a busy route with a clear error (exit 1), and the running copy goes on", async () => {
    fs.rmSync(path.join(dst, "big.bin"), { force: true });
    const long = startCli(home, ["cp", "local://sh-src/big.bin", "local://sh-dst/big.bin", "-y"]);
    await waitFor(
      "the long copy's data to flow",
      () => {
        assert.equal(long.child.exitCode, null, long.stderr());
        return uploadBytes(dst) > 0;
      },
      150_000,
    );
    const pids = gatewayPids(home, STACK);
    assert.equal(pids.length, 2);
    const other = runCli(home, [
      "cp",
      "local://sh-src/small",
      "local://sh-dst/again",
      "-r",
      "-y",
      "--n-vms",
      "2",
    ]);
    assert.equal(other.status, 1, other.stderr);
    assert.match(
      other.stderr,
      new RegExp(
        `error: route ${STACK} is in use by process ${long.child.pid} .*with another plan.*wait for it to finish`,
      ),
    );
    assert.doesNotMatch(other.stderr, /internal error/);
    assert.ok(
      pids.every((p) => liveStartTime(p)),
      "the running copy's gateways are untouched",
    );
    const { code } = await long.exited;
    assert.equal(code, 0, long.stderr());
    assert.equal(sha256(path.join(dst, "big.bin")), sha256(path.join(src, "big.bin")));
    assert.equal(fs.existsSync(path.join(dst, "again")), false);
    for (const p of pids) assert.equal(liveStartTime(p), undefined, `gateway ${p} still runs`);
  });
});
