import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { STORE_SCHEMES } from "../../common/schemes";
import { runCli } from "../helpers/cli";

/* What `cp` and `sync` show before and after a transfer: the plan, a dry run, --json, --help. */
describe("cli: cp --dry-run, plan SRC DST, --json and --help", function () {
  this.timeout(180_000);
  let home: string;
  let folder: string;
  let bytes: number;

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-cpplan-"));
    folder = path.join(home, "data");
    fs.mkdirSync(path.join(folder, "sub"), { recursive: true });
    fs.writeFileSync(path.join(folder, "a.txt"), "hello");
    fs.writeFileSync(path.join(folder, "sub", "b.bin"), crypto.randomBytes(300_000));
    bytes = 5 + 300_000;
    const mb = runCli(home, ["mb", "local://plan-dst", "--region", "local:west"]);
    assert.equal(mb.status, 0, mb.stderr);
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  function nothingProvisioned(): void {
    const stacks = path.join(home, "state", ".pulumi", "stacks");
    assert.deepEqual(fs.existsSync(stacks) ? fs.readdirSync(stacks) : [], [], "no stack");
    assert.deepEqual(
      fs.readdirSync(path.join(home, "buckets", "plan-dst")).filter((f) => f !== ".skyplane"),
      [],
      "nothing written",
    );
  }

  it("cp --dry-run prints the plan, its objects and bytes, and exits 0 without provisioning", () => {
    const r = runCli(home, ["cp", folder, "local://plan-dst/copy/", "-r", "--dry-run"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Route: {4}local:client → local:west \(direct plan\)$/m);
    assert.match(r.stdout, /^Moves: {4}2 object\(s\), 293\.0 KiB: about \$0\.00$/m);
    assert.match(r.stdout, /^Stack: {4}local-client--local-west$/m);
    assert.match(r.stdout, /^Dry run: nothing was provisioned/m);
    nothingProvisioned();

    // `skyplane plan SRC DST` prints the same plan, text and JSON.
    const plan = runCli(home, ["plan", folder, "local://plan-dst/copy/", "-r"]);
    assert.equal(plan.status, 0, plan.stderr);
    assert.equal(plan.stdout, r.stdout);
    const json = runCli(home, [
      "cp",
      folder,
      "local://plan-dst/copy/",
      "-r",
      "--dry-run",
      "--json",
    ]);
    assert.equal(json.status, 0, json.stderr);
    const dry = JSON.parse(json.stdout);
    assert.deepEqual(
      [dry.dryRun, dry.objects, dry.bytes, dry.stack, dry.estimate.chunks],
      [true, 2, bytes, "local-client--local-west", 2],
    );
    assert.deepEqual(dry.buckets, { read: [`file://${folder}`], write: ["local://plan-dst"] });
    assert.deepEqual(dry.topology.route, { src: "local:client", dsts: ["local:west"] });
    const planJson = runCli(home, ["plan", folder, "local://plan-dst/copy/", "-r", "--json"]);
    assert.deepEqual(JSON.parse(planJson.stdout), dry);
    nothingProvisioned();
  });

  it("cp --json carries the stack, the estimate, what was verified and how, and the cost", () => {
    const r = runCli(home, ["cp", folder, "local://plan-dst/copy/", "-r", "-y", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.deepEqual([result.objects, result.bytes], [2, bytes]);
    assert.equal(result.stack, "local-client--local-west");
    assert.deepEqual(
      [result.estimate.throughputGbps, result.estimate.costPerGB.total, result.estimate.bytes],
      [5, 0, bytes],
    );
    assert.deepEqual(result.verified, { objects: 2, storeHash: { crc32: 2 }, readBack: 0 });
    assert.equal(result.costUSD, 0, "the local cloud costs nothing");
    assert.equal(
      fs.readFileSync(path.join(home, "buckets", "plan-dst", "copy", "a.txt"), "utf8"),
      "hello",
    );
  });

  for (const cmd of ["cp", "sync"]) {
    it(`${cmd} --help names every kind of source and destination`, () => {
      const r = runCli(home, [cmd, "--help"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(STORE_SCHEMES.length, 5, "local, s3, gs, azure, file");
      for (const form of [...STORE_SCHEMES.map((s) => `${s}://`), "folder", "--dry-run"])
        assert.ok(r.stdout.includes(form), `${cmd} --help names ${form}`);
    });
  }

  it("cp of one object to a path that does not exist writes a file of that name; a trailing / a folder", () => {
    const out = path.join(home, "out");
    const named = path.join(out, "deeper", "one.txt");
    const r = runCli(home, ["cp", path.join(folder, "a.txt"), named, "-y"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(named, "utf8"), "hello");
    const into = path.join(out, "folder") + "/";
    const f = runCli(home, ["cp", path.join(folder, "a.txt"), into, "-y"]);
    assert.equal(f.status, 0, f.stderr);
    assert.equal(fs.readFileSync(path.join(into, "a.txt"), "utf8"), "hello");
    // An existing folder is one, whatever is written.
    const again = runCli(home, ["cp", path.join(folder, "a.txt"), path.join(out, "folder"), "-y"]);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(fs.readdirSync(path.join(out, "folder")).sort(), ["a.txt"]);
  });
});
