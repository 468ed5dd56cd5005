import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../components/local";

const MAIN = path.join(__dirname, "..", "..", "cli", "main.js");

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
  let home: string;
  after(() => fs.rmSync(home, { recursive: true, force: true }));

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
});
