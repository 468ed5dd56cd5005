import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";

const SCRIPT = path.join(__dirname, "..", "..", "scripts", "emulators.js");

describe("scripts/emulators: npm run emulators", function () {
  this.timeout(60_000);

  it("starts the three emulators in the background, writes their environment, and stops exactly them", () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-emu-"));
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [SCRIPT, ...args], {
        env: { ...process.env, SKYPLANE_HOME: home },
        encoding: "utf8",
      });
    try {
      const start = run();
      assert.equal(start.status, 0, start.stderr);
      assert.match(start.stdout, /Started gofakes3, fake-gcs-server, azurite on 127\.0\.0\.1/);
      const env = fs.readFileSync(path.join(home, "emulators.env"), "utf8");
      assert.match(env, /^export AWS_ENDPOINT_URL_S3='http:\/\/127\.0\.0\.1:\d+'$/m);
      assert.match(env, /^export STORAGE_EMULATOR_HOST='http:\/\/127\.0\.0\.1:\d+'$/m);
      assert.match(
        env,
        /^export AZURE_STORAGE_CONNECTION_STRING='.*BlobEndpoint=http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1;'$/m,
      );
      assert.equal(fs.statSync(path.join(home, "emulators.env")).mode & 0o777, 0o600);
      const { processes } = JSON.parse(fs.readFileSync(path.join(home, "emulators.json"), "utf8"));
      assert.equal(processes.length, 3);
      assert.ok(
        processes.every(
          (p: { pid: number; startTime: string }) => liveStartTime(p.pid) === p.startTime,
        ),
        "running after start returned",
      );
      const stop = run("stop");
      assert.equal(stop.status, 0, stop.stderr);
      assert.ok(
        processes.every((p: { pid: number }) => liveStartTime(p.pid) === undefined),
        "all three stopped",
      );
      assert.equal(fs.existsSync(path.join(home, "emulators.env")), false);
    } finally {
      run("stop");
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
