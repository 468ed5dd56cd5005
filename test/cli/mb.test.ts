import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AZURITE_ACCOUNT } from "../../scripts/emulators";
import { AzureStore, GcsStore, S3Store } from "../../stores";
import { emulators } from "../helpers/emulators";

const MAIN = path.join(__dirname, "..", "..", "cli", "main.js");

/*
 * `skyplane mb` makes a bucket of every scheme through the stores' own bucket creation (against the
 * emulators), keeps a local bucket made again in its region, and refuses with a clear error and exit 1
 * a bucket that exists, a region of another provider, a folder and a key.
 */
describe("cli: mb makes buckets on every store", function () {
  this.timeout(120_000);
  let home: string;
  let env: NodeJS.ProcessEnv;
  const tag = crypto.randomBytes(3).toString("hex");

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-mb-"));
    env = { ...process.env, ...(await emulators()).env, SKYPLANE_HOME: home };
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  function mb(...args: string[]) {
    const r = spawnSync(process.execPath, [MAIN, "mb", ...args], {
      encoding: "utf8",
      env,
      cwd: home,
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it("makes a local bucket, keeps it when made again in its region, and refuses another region", () => {
    const made = mb(`local://mb-${tag}`, "--region", "local:east");
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.stdout, `Made local://mb-${tag} in local:east\n`);
    const record = path.join(home, "buckets", `mb-${tag}`, ".skyplane", "bucket.json");
    assert.equal(JSON.parse(fs.readFileSync(record, "utf8")).region, "local:east");
    assert.equal(mb(`local://mb-${tag}`, "--region", "local:east").code, 0);
    const moved = mb(`local://mb-${tag}`, "--region", "local:west");
    assert.equal(moved.code, 1);
    assert.match(
      moved.stderr,
      new RegExp(`bucket mb-${tag} already exists in local:east, not local:west`),
    );
  });

  it("makes S3, GCS and Azure buckets, and refuses one that exists", async () => {
    const s3 = mb(`s3://mb-${tag}`, "--region", "aws:us-west-2", "--json");
    assert.equal(s3.code, 0, s3.stderr);
    assert.deepEqual(JSON.parse(s3.stdout), { bucket: `s3://mb-${tag}`, region: "aws:us-west-2" });
    // GCS buckets live in regions: a region, a zone of it and a multi-region all do.
    const gs = mb(`gs://mb-${tag}`, "--region", "gcp:us-central1");
    assert.equal(gs.code, 0, gs.stderr);
    assert.equal(mb(`gs://mb-zone-${tag}`, "--region", "gcp:europe-west1-b").code, 0);
    assert.equal(mb(`gs://mb-multi-${tag}`, "--region", "gcp:us").code, 0);
    const az = mb(`azure://${AZURITE_ACCOUNT}/mb-${tag}`, "--region", "azure:westeurope");
    assert.equal(az.code, 0, az.stderr);
    assert.equal(az.stdout, `Made azure://${AZURITE_ACCOUNT}/mb-${tag} in azure:westeurope\n`);
    const made = [
      new S3Store(`mb-${tag}`, {}, env),
      new GcsStore(`mb-${tag}`, {}, env),
      new GcsStore(`mb-zone-${tag}`, {}, env),
      new GcsStore(`mb-multi-${tag}`, {}, env),
      new AzureStore(`${AZURITE_ACCOUNT}/mb-${tag}`, {}, env),
    ];
    assert.deepEqual(await Promise.all(made.map((s) => s.exists())), [
      true,
      true,
      true,
      true,
      true,
    ]);
    const again = mb(`s3://mb-${tag}`, "--region", "aws:us-west-2");
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      new RegExp(`s3://mb-${tag} exists already: use it, or make a bucket of another name`),
    );
    assert.doesNotMatch(again.stderr, /at .*\.js:\d+/, "no stack trace for a user error");
  });

  const refusals: Array<[string, string[], RegExp]> = [
    [
      "a region of another provider",
      ["s3://mb-wrong", "--region", "gcp:us-central1-a"],
      /s3:\/\/mb-wrong needs a aws region \(aws:…\), not gcp:us-central1-a/,
    ],
    [
      "an unknown region",
      ["local://mb-nowhere", "--region", "local:mars"],
      /unknown region local:mars: the local cloud has/,
    ],
    [
      "a key",
      ["local://mb-key/some/key", "--region", "local:east"],
      /name a bucket, without a key/,
    ],
    ["a folder", ["a-folder", "--region", "local:client"], /a folder is made as it is written/],
  ];
  for (const [what, args, message] of refusals) {
    it(`refuses ${what}, making nothing`, async () => {
      const r = mb(...args);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, "no stack trace for a user error");
      // Only the first test's bucket is in the home, no folder was made, and S3 has no new bucket.
      assert.deepEqual(fs.readdirSync(path.join(home, "buckets")), [`mb-${tag}`]);
      assert.equal(fs.existsSync(path.join(home, "a-folder")), false);
      assert.equal(await new S3Store("mb-wrong", {}, env).exists(), false);
    });
  }
});
