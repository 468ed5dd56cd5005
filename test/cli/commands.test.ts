import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const MAIN = path.join(__dirname, "..", "..", "cli", "main.js");

/** Runs the CLI in its own home; `as` runs it as another user (the tests run as root). */
function skyplane(home: string, args: string[], opts: { cwd?: string; uid?: number } = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    cwd: opts.cwd,
    env: { ...process.env, SKYPLANE_HOME: home },
    timeout: 120_000,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("cli: bad input gets a clear error, a non-zero exit, and changes nothing", function () {
  this.timeout(120_000);
  let home: string;
  let work: string;

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-badinput-"));
    fs.chmodSync(work, 0o777);
    home = path.join(work, "home");
    assert.equal(skyplane(home, ["mb", "local://src-bucket", "--region", "local:east"]).code, 0);
    assert.equal(skyplane(home, ["mb", "local://dst-bucket", "--region", "local:west"]).code, 0);
    fs.writeFileSync(path.join(home, "buckets", "src-bucket", "x.txt"), "x");
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  /** Nothing provisioned (no stack) and nothing written at the destination. */
  function assertUntouched(): void {
    const stacks = path.join(home, "state", ".pulumi", "stacks");
    assert.deepEqual(
      fs.existsSync(stacks) ? fs.readdirSync(stacks) : [],
      [],
      "no stack was created",
    );
    const dst = path.join(home, "buckets", "dst-bucket");
    assert.deepEqual(
      fs.readdirSync(dst).filter((f) => f !== ".skyplane"),
      [],
      "nothing was written",
    );
  }

  const cases: Array<[string, string[], RegExp]> = [
    [
      "a malformed URI",
      ["cp", "ftp://host/x", "local://dst-bucket/", "-y"],
      /unknown scheme ftp:\/\/; use local:\/\/BUCKET\/KEY/,
    ],
    [
      "a bad bucket name",
      ["cp", "local://Bad_Name/x", "local://dst-bucket/", "-y"],
      /is not a bucket name/,
    ],
    [
      "a missing bucket",
      ["cp", "local://no-such-bucket/x", "local://dst-bucket/", "-y"],
      /does not exist: create it with 'skyplane mb local:\/\/no-such-bucket/,
    ],
    [
      "a missing object",
      ["cp", "local://src-bucket/nope.txt", "local://dst-bucket/", "-y"],
      /no object local:\/\/src-bucket\/nope.txt/,
    ],
    [
      "an unknown region",
      ["mb", "local://new-bucket", "--region", "local:mars"],
      /unknown region local:mars: the local cloud has local:central, local:client, local:east/,
    ],
    [
      "an unknown cloud region",
      ["plan", "aws:us-east-1", "aws:mars-1"],
      /unknown region aws:mars-1: aws regions are aws:af-south-1/,
    ],
    [
      "an impossible target",
      [
        "plan",
        "aws:us-east-1",
        "gcp:us-central1-a",
        "--objective",
        "cost",
        "--min-throughput",
        "900",
      ],
      /no plan reaches 900 Gbit\/s .* the most achievable is/,
    ],
    [
      "zero gateways per region",
      ["cp", "local://src-bucket/x.txt", "local://dst-bucket/", "-y", "--n-vms", "0"],
      /nVms must be 1 to 64, not 0/,
    ],
    ["a missing argument", ["cp", "local://src-bucket/x.txt"], /Not enough non-option arguments/],
    [
      "no terminal to confirm on",
      ["cp", "local://src-bucket/x.txt", "local://dst-bucket/"],
      /pass -y to go ahead/,
    ],
  ];
  for (const [what, args, message] of cases) {
    it(`rejects ${what}`, () => {
      const r = skyplane(home, args);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, "no stack trace for a user error");
      assertUntouched();
    });
  }

  it("rejects an unreadable file before provisioning anything", function () {
    if (process.getuid?.() !== 0) this.skip(); // needs root to run the CLI as another user
    // The other user must be able to run this checkout (a clone under a private folder is not).
    const probe = skyplane(work, ["--help"], { uid: 65534 });
    if (probe.code !== 0) {
      this.skip(); // the checkout is not readable by other users, so the CLI cannot run as one
    }
    const data = path.join(work, "data");
    fs.mkdirSync(data, { mode: 0o755 });
    fs.writeFileSync(path.join(data, "ok.txt"), "ok", { mode: 0o644 });
    fs.writeFileSync(path.join(data, "secret.txt"), "no", { mode: 0o600 });
    const nobodyHome = path.join(work, "nobody-home");
    fs.mkdirSync(nobodyHome);
    fs.chmodSync(nobodyHome, 0o777);
    const made = skyplane(nobodyHome, ["mb", "local://dst-bucket", "--region", "local:west"], {
      uid: 65534,
    });
    assert.equal(made.code, 0, made.stderr);
    const r = skyplane(nobodyHome, ["cp", data, "local://dst-bucket/", "-r", "-y"], { uid: 65534 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot read .*secret\.txt \(EACCES\): fix their permissions/);
    assert.equal(fs.existsSync(path.join(nobodyHome, "state", ".pulumi", "stacks")), false);
  });
});
