import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GcsStore, LocalStore, localBucketRoot, S3Store } from "../../stores";
import { emulators } from "../helpers/emulators";

const MAIN = path.join(__dirname, "..", "..", "cli", "main.js");

describe("cli: skyplane verify compares keys, sizes and the stores' own checksums", function () {
  this.timeout(120_000);
  let home: string;
  let env: NodeJS.ProcessEnv;
  let s3: string;
  let gcs: string;
  const files: Record<string, Buffer> = {
    "a.bin": crypto.randomBytes(5000),
    "b.bin": crypto.randomBytes(3000),
    "c.bin": crypto.randomBytes(10),
  };

  const skyplane = (args: string[]) => {
    const r = spawnSync(process.execPath, [MAIN, ...args], {
      encoding: "utf8",
      env,
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-verify-"));
    env = { ...process.env, ...(await emulators()).env, SKYPLANE_HOME: home };
    const tag = crypto.randomBytes(3).toString("hex");
    const local = await LocalStore.createBucket(
      "vsrc",
      localBucketRoot({ home }, "vsrc"),
      "local:east",
    );
    s3 = `vf-s3-${tag}`;
    gcs = `vf-gcs-${tag}`;
    const s3Store = new S3Store(s3, {}, env);
    await s3Store.createBucket("aws:us-east-1");
    const gcsStore = new GcsStore(gcs, {}, env);
    await gcsStore.createBucket("gcp:us-central1");
    for (const [k, v] of Object.entries(files)) {
      await local.put(`data/${k}`, v);
      await gcsStore.put(`data/${k}`, v);
    }
    // S3: a.bin the same, b.bin the same size but one byte different, c.bin missing, d.bin extra.
    const b = Buffer.from(files["b.bin"]);
    b[1500] ^= 1;
    await s3Store.put("data/a.bin", files["a.bin"]);
    await s3Store.put("data/b.bin", b);
    await s3Store.put("data/d.bin", Buffer.from("extra"));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("exits 0 when both sides hold the same objects, reading both where they share no hash", () => {
    const r = skyplane(["verify", `local://vsrc/data`, `gs://${gcs}/data`, "-r", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    // The local store computes CRC-32, GCS CRC-32C and MD5: no algorithm in common, so both are read.
    assert.deepEqual(JSON.parse(r.stdout), { compared: 3, downloaded: 3, differences: [] });
  });

  it("prints every difference and exits 1; S3 and GCS are compared by their MD5s alone", () => {
    const r = skyplane(["verify", `gs://${gcs}/data`, `s3://${s3}/data`, "-r", "--json"]);
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.compared, 2);
    assert.equal(report.downloaded, 0, "a shared algorithm needs no download");
    assert.deepEqual(
      report.differences.map((d: { key: string; problem: string }) => [d.key, d.problem]),
      [
        ["data/b.bin", "content"],
        ["data/c.bin", "missing"],
        ["data/d.bin", "extra"],
      ],
    );
    assert.match(report.differences[0].detail, /^md5 [0-9a-f]{32}, destination [0-9a-f]{32}$/);
    const text = skyplane(["verify", `gs://${gcs}/data`, `s3://${s3}/data`, "-r"]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /content +data\/b\.bin: md5 /);
    assert.match(text.stdout, /2 object\(s\) compared \(0 by downloading\), 3 difference\(s\)/);
  });

  it("compares a single object, and downloads where the stores share no hash", () => {
    const same = skyplane(["verify", `local://vsrc/data/a.bin`, `s3://${s3}/data/a.bin`, "--json"]);
    assert.equal(same.code, 0, same.stderr);
    assert.deepEqual(JSON.parse(same.stdout), { compared: 1, downloaded: 1, differences: [] });
    const diff = skyplane(["verify", `local://vsrc/data/b.bin`, `s3://${s3}/data/b.bin`]);
    assert.equal(diff.code, 1);
    assert.match(
      diff.stdout,
      /content +data\/b\.bin: read back with CRC-32 [0-9a-f]{8}, destination/,
    );
  });

  it("names a missing bucket with exit 1", () => {
    const r = skyplane(["verify", `local://vsrc/data`, `s3://no-such-${s3}/data`, "-r"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not exist/);
  });
});
