import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { onHeldWarning, withoutNodeVersionWarning } from "../../stores/s3/sdk-warning";
import { CLI_MAIN } from "../helpers/cli";
import { emulators } from "../helpers/emulators";

/*
 * The AWS SDK's NodeVersionSupportWarning (eight lines on every command that touches S3 on Node 20) is
 * held back where clients are made; every other warning still reaches stderr.
 */

const ROOT = path.join(__dirname, "..", "..", "..");
const NODE_MAJOR = Number(process.versions.node.split(".")[0]);

describe("stores/s3: the AWS SDK's NodeVersionSupportWarning", function () {
  this.timeout(120_000);
  let home: string;
  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-sdkwarn-"));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("holds back that warning, and only that one, while a client is made", () => {
    const passed: unknown[][] = [];
    const held: string[] = [];
    onHeldWarning((w) => held.push(w));
    const original = process.emitWarning;
    const recording = ((...args: unknown[]) =>
      void passed.push(args)) as typeof process.emitWarning;
    process.emitWarning = recording;
    try {
      const made = withoutNodeVersionWarning(() => {
        process.emitWarning("NodeVersionSupportWarning: a probe of the SDK's text");
        process.emitWarning("a warning of our own", "SkyplaneProbeWarning");
        return 42;
      });
      assert.equal(made, 42);
      assert.equal(process.emitWarning, recording, "process.emitWarning is itself again");
    } finally {
      process.emitWarning = original;
    }
    assert.deepEqual(passed, [["a warning of our own", "SkyplaneProbeWarning"]]);
    assert.deepEqual(held, ["NodeVersionSupportWarning: a probe of the SDK's text"]);
  });

  it("keeps it off stderr of commands that touch S3, and lets another warning through", async () => {
    const env = { ...process.env, ...(await emulators()).env, SKYPLANE_HOME: home };
    // Without the hold, this Node gets the warning from the SDK (Node 22 and later get none).
    const plain = spawnSync(
      process.execPath,
      ["-e", "new (require('@aws-sdk/client-s3').S3Client)({ region: 'us-east-1' })"],
      { cwd: ROOT, env, encoding: "utf8" },
    );
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(/NodeVersionSupportWarning/.test(plain.stderr), NODE_MAJOR < 22, plain.stderr);

    // Another warning of the process: emitted by a module loaded before the command runs.
    const preload = path.join(home, "probe-warning.js");
    fs.writeFileSync(
      preload,
      'process.emitWarning("a warning of our own", "SkyplaneProbeWarning");\n',
    );
    const file = path.join(home, "x.txt");
    fs.writeFileSync(file, "hello\n");
    const skyplane = (args: string[]) =>
      spawnSync(process.execPath, ["--require", preload, CLI_MAIN, ...args], {
        env,
        encoding: "utf8",
        timeout: 110_000,
      });
    const mb = skyplane(["mb", "s3://quiet-sdk", "--region", "aws:us-east-1"]);
    assert.equal(mb.status, 0, mb.stderr);
    const cp = skyplane(["cp", file, "s3://quiet-sdk/x.txt", "-y"]);
    assert.equal(cp.status, 0, cp.stderr);
    assert.match(cp.stdout, /Copied 1 object/);
    for (const r of [mb, cp]) {
      assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning|AWS SDK/);
      assert.match(r.stderr, /SkyplaneProbeWarning: a warning of our own/);
    }
  });
});
