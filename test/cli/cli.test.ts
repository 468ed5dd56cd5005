import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ERRORS, ErrorCode, SkyplaneError, UserError } from "../../errors";
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

  it("maps user errors to exit 1 and internal errors to exit 2, with the stack only on SKYPLANE_DEBUG", () => {
    const out: string[] = [];
    const report = (err: unknown, debug = false) => {
      out.length = 0;
      return reportError(err, (s) => out.push(s), debug);
    };
    assert.equal(report(new UserError("USAGE", "fix it like so")), EXIT.USER);
    assert.equal(out.join(""), "error: fix it like so\n");
    assert.equal(report(new SkyplaneError("ENGINE_FAILED", "engine died")), EXIT.INTERNAL);
    assert.match(out.join(""), /^internal error \[ENGINE_FAILED\]: engine died\n/);
    assert.match(out.join(""), /rerun with SKYPLANE_DEBUG=1/);
    assert.doesNotMatch(out.join(""), /\n\s+at /, "no stack without SKYPLANE_DEBUG");
    const cause = new Error("the socket hung up");
    assert.equal(
      report(new SkyplaneError("ENGINE_FAILED", "engine died", { cause }), true),
      EXIT.INTERNAL,
    );
    assert.match(out.join(""), /SkyplaneError \[ENGINE_FAILED\]: engine died\n\s+at /);
    assert.match(out.join(""), /caused by: Error: the socket hung up\n\s+at /);
    assert.equal(
      report(Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" })),
      1,
    );
    assert.match(out.join(""), /Check the permissions/);
    assert.equal(report(new TypeError("x is undefined")), EXIT.INTERNAL);
    assert.match(out.join(""), /^internal error: x is undefined\n/);
  });

  it("exits with the status the error table gives each code", () => {
    const codes = Object.keys(ERRORS) as ErrorCode[];
    const statuses = codes.map((code) =>
      reportError(new SkyplaneError(code, "m"), () => {}, false),
    );
    assert.deepEqual(
      statuses,
      codes.map((code) => ERRORS[code].exit),
    );
    assert.deepEqual(
      [...new Set(statuses)].sort((a, b) => a - b),
      [1, 2, 3, 130],
      "every status of the table",
    );
  });

  it("prints the cause chain and the stacks of a failing command with SKYPLANE_DEBUG=1", () => {
    const grid = path.join(home, "grid.csv");
    fs.writeFileSync(
      grid,
      "src_region,dst_region,throughput_received_bps\naws:us-east-1,aws:us-west-2,fast\n",
    );
    const args = ["plan", "aws:us-east-1", "aws:us-west-2", "--grid", grid];
    const plain = skyplane(args, { SKYPLANE_HOME: home, SKYPLANE_DEBUG: "" });
    assert.equal(plain.code, EXIT.USER, plain.stderr);
    assert.equal(plain.stderr, `error: ${grid}: grid line 2: bad throughput fast\n`);
    const debug = skyplane(args, { SKYPLANE_HOME: home, SKYPLANE_DEBUG: "1" });
    assert.equal(debug.code, EXIT.USER, debug.stderr);
    const [head, cause] = debug.stderr.split("\ncaused by: ");
    assert.match(head, /^error: .*bad throughput fast\nUserError \[BAD_TABLE\]: .*\n\s+at \S/);
    assert.match(cause, /^UserError \[BAD_TABLE\]: grid line 2: bad throughput fast\n\s+at /);
    assert.match(cause, /planner\/model\.(js|ts)/, "the stack names where the planner threw");
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
    const r = skyplane(["check", "--json"], {
      SKYPLANE_HOME: home,
      // This machine's credentials, whatever they are, stay out: AWS has a profile, GCP nothing.
      AWS_PROFILE: "check-profile",
      GOOGLE_APPLICATION_CREDENTIALS: path.join(home, "no-such-key.json"),
    });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim());
    assert.equal(result.version, "3.248.0");
    assert.ok(Number.isInteger(result.pid) && result.pid > 1);
    // Gone, or a zombie waiting for init to reap it (this sandbox's init never does).
    assert.equal(liveStartTime(result.pid), undefined, "the probe process is gone");
    for (const k of ["up", "reuse", "destroy"]) assert.ok(result.seconds[k] > 0, k);
    assert.equal(result.guardrails, "skyplane-guardrails@v0.1.0");
    // What other commands keep off the terminal is shown here (the AWS SDK warns below Node 22).
    assert.deepEqual(
      result.sdkWarnings.map((w: string) => w.split("\n")[0]),
      Number(process.versions.node.split(".")[0]) < 22
        ? ["NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)"]
        : [],
    );
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
    // Each cloud's credentials as the runner's pre-flight sees them, and how to sign in where there are none.
    assert.deepEqual(Object.keys(result.credentials), ["aws", "gcp", "azure"]);
    assert.equal(result.credentials.aws.source, "the profile check-profile (AWS_PROFILE)");
    assert.equal(result.credentials.gcp.source, undefined, "a key file that is not there");
    assert.match(result.credentials.gcp.how, /gcloud auth application-default login/);
  });
});
