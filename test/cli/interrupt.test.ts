import * as assert from "node:assert/strict";
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
  workFiles,
  writeBigFile,
} from "../helpers/cli";

const STACK = "local-east--local-west";

/* Ctrl-C (SIGINT/SIGTERM) mid-transfer, and a client that dies without a word (SIGKILL). */
describe("cli: interrupting a transfer", function () {
  this.timeout(300_000);
  let home: string;
  let dst: string;

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-int-"));
    assert.equal(runCli(home, ["mb", "local://int-src", "--region", "local:east"]).status, 0);
    assert.equal(runCli(home, ["mb", "local://int-dst", "--region", "local:west"]).status, 0);
    writeBigFile(path.join(home, "buckets", "int-src", "big.bin"), 8); // 512 MiB, multipart
    dst = path.join(home, "buckets", "int-dst");
  });
  after(() => {
    runCli(home, ["deprovision", "-y", "--force"]);
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** Starts a copy of big.bin and waits until its data reaches the destination. */
  async function copyInFlight(extra: string[] = []) {
    const cli = startCli(home, [
      "cp",
      "local://int-src/big.bin",
      "local://int-dst/big.bin",
      "-y",
      "--json",
      ...extra,
    ]);
    await waitFor(
      "data to reach the destination",
      () => {
        assert.equal(cli.child.exitCode, null, `the copy ended early: ${cli.stderr()}`);
        return uploadBytes(dst) > 0;
      },
      150_000,
    );
    const pids = gatewayPids(home, STACK);
    assert.equal(pids.length, 2, "a source and a destination gateway");
    assert.ok(pids.every((p) => liveStartTime(p)));
    return { cli, pids };
  }

  /** Asserts that nothing of the copy is left: no object, no upload, no gateway, an empty stack. */
  function assertNothingLeft(pids: number[]): void {
    for (const p of pids) assert.equal(liveStartTime(p), undefined, `gateway ${p} still runs`);
    assert.deepEqual(
      fs.readdirSync(dst).filter((f) => f !== ".skyplane"),
      [],
      "no object or partial upload at the destination",
    );
    const uploads = path.join(dst, ".skyplane", "uploads");
    assert.deepEqual(fs.existsSync(uploads) ? fs.readdirSync(uploads) : [], [], "no open upload");
    assert.deepEqual(workFiles(dst), [], "no work file");
    const stacks = JSON.parse(runCli(home, ["stacks", "--json"]).stdout) as Array<{
      name: string;
      resources: number;
    }>;
    assert.ok(stacks.some((s) => s.name === STACK));
    assert.deepEqual(
      stacks.filter((s) => s.resources > 0),
      [],
      "every stack is empty",
    );
    const procs = processesOf(home);
    assert.ok(procs.scanned > 0);
    assert.deepEqual(procs.pids, [], "no process of this home runs");
  }

  it("on SIGINT stops dispatch, aborts the upload, tears the gateways down and exits 130", async () => {
    const { cli, pids } = await copyInFlight();
    cli.child.kill("SIGINT");
    const { code } = await cli.exited;
    assert.equal(code, 130, cli.stderr());
    assert.match(cli.stderr(), /SIGINT: stopping the transfer/);
    assert.match(cli.stderr(), /interrupted: the transfer was stopped/);
    assertNothingLeft(pids);
  });

  it("on SIGTERM does the same", async () => {
    const { cli, pids } = await copyInFlight();
    cli.child.kill("SIGTERM");
    const { code } = await cli.exited;
    assert.equal(code, 130, cli.stderr());
    assertNothingLeft(pids);
  });

  it("a second SIGINT skips the teardown, exits 130 and prints the command that does it", async () => {
    const { cli, pids } = await copyInFlight();
    cli.child.kill("SIGINT");
    await waitFor(
      "the first signal's notice",
      () => /stopping the transfer/.test(cli.stderr()),
      30_000,
    );
    cli.child.kill("SIGINT");
    const { code } = await cli.exited;
    assert.equal(code, 130, cli.stderr());
    assert.match(cli.stderr(), new RegExp(`skyplane deprovision -y ${STACK}\\n`));
    const r = runCli(home, ["deprovision", "-y", STACK]);
    assert.equal(r.status, 0, r.stderr);
    for (const p of pids) assert.equal(liveStartTime(p), undefined, `gateway ${p} still runs`);
  });

  it("gateways whose client died stop on their own after a lease, long before their TTL", async () => {
    for (const f of fs.readdirSync(dst).filter((x) => x !== ".skyplane"))
      fs.rmSync(path.join(dst, f), { force: true });
    const { cli, pids } = await copyInFlight(["--lease-seconds", "4"]);
    const killedAt = Date.now();
    cli.child.kill("SIGKILL");
    await cli.exited;
    // The TTL is at least half an hour (copy() sizes it); the lease is 4 s.
    await waitFor("the gateways to stop", () => pids.every((p) => !liveStartTime(p)), 60_000);
    const after = Date.now() - killedAt;
    assert.ok(after >= 3_000 && after < 60_000, `stopped ${after} ms after the client died`);
    const logs = path.join(home, "logs", STACK);
    const stopped = fs
      .readdirSync(logs)
      .filter((f) =>
        /no word from the client for 4 s/.test(fs.readFileSync(path.join(logs, f), "utf8")),
      );
    assert.equal(stopped.length, 2, "both gateways said why they stopped");
  });
});
