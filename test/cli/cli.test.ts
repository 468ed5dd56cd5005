import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SkyplaneError, UserError } from "../../errors";
import { EXIT, reportError } from "../../cli/cli";
import { liveStartTime } from "../../common/process";

const MAIN = path.join(__dirname, "..", "..", "cli", "main.js");

function skyplane(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("cli", function () {
  this.timeout(120_000);
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-cli-"));
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it("maps user errors to exit 1 and internal errors to exit 2", () => {
    const out: string[] = [];
    assert.equal(
      reportError(new UserError("X", "fix it like so"), (s) => out.push(s)),
      EXIT.USER,
    );
    assert.equal(out.join(""), "error: fix it like so\n");
    out.length = 0;
    assert.equal(
      reportError(new SkyplaneError("BOOM", "engine died"), (s) => out.push(s)),
      EXIT.INTERNAL,
    );
    assert.match(out.join(""), /internal error \[BOOM\]: SkyplaneError: engine died/);
    assert.match(out.join(""), /SKYPLANE_DEBUG=1/);
  });

  it("rejects an unknown command with exit 1 and a hint", () => {
    const r = skyplane(["bogus"], { SKYPLANE_HOME: home });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unknown argument: bogus/);
    assert.match(r.stderr, /skyplane --help/);
  });

  it("says how to install the engine when it is missing, and writes no state", () => {
    const r = skyplane(["check"], {
      SKYPLANE_HOME: home,
      SKYPLANE_PULUMI_ROOT: path.join(home, "none"),
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Pulumi engine is not installed .*npm run setup/);
    assert.deepEqual(fs.readdirSync(home), []);
  });

  it("check proves the engine and reports what it measured as JSON", () => {
    const r = skyplane(["check", "--json"], { SKYPLANE_HOME: home });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim());
    assert.equal(result.version, "3.248.0");
    assert.ok(Number.isInteger(result.pid) && result.pid > 1);
    // Gone, or a zombie waiting for init to reap it (this sandbox's init never does).
    assert.equal(liveStartTime(result.pid), undefined, "the probe process is gone");
    for (const k of ["up", "reuse", "destroy"]) assert.ok(result.seconds[k] > 0, k);
    assert.equal(result.guardrails, "skyplane-guardrails@v0.1.0");
    // No provider plugin is installed here (nothing is ever downloaded): each says how to get it.
    assert.deepEqual(Object.keys(result.providers), ["aws", "gcp", "azure"]);
    assert.equal(result.providers.azure.plugin, "azure-native");
    for (const p of Object.values(result.providers) as Array<{
      installed: boolean;
      install: string;
    }>) {
      assert.equal(p.installed, false);
      assert.match(
        p.install,
        /^PULUMI_HOME=\S+ \S+\/bin\/pulumi plugin install resource (aws|gcp|azure-native) \d+\.\d+\.\d+$/,
      );
    }
  });
});
