import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const MAIN = path.join(__dirname, "..", "..", "cli", "main.js");

/** Runs the CLI in its own home. */
function skyplane(home: string, args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, SKYPLANE_HOME: home },
    timeout: 150_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under `dir` (relative), skyplane's records included. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name), rel + e.name + "/");
      else out.push(rel + e.name);
    }
  };
  walk(dir, "");
  return out.sort();
}

describe("cli: data safety of sync, keys and folders", function () {
  this.timeout(300_000);
  let work: string;
  let home: string;
  const stacksDir = () => path.join(home, "state", ".pulumi", "stacks");
  const noStack = () =>
    assert.deepEqual(
      fs.existsSync(stacksDir()) ? fs.readdirSync(stacksDir()) : [],
      [],
      "no stack was created",
    );

  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-safety-"));
    home = path.join(work, "home");
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  it("refuses sync --delete with the source nested inside the destination, deleting nothing", () => {
    assert.equal(skyplane(home, ["mb", "local://nest-bkt", "--region", "local:east"]).code, 0);
    const root = path.join(home, "buckets", "nest-bkt");
    fs.mkdirSync(path.join(root, "data", "src"), { recursive: true });
    fs.writeFileSync(path.join(root, "data", "keep.txt"), "keep");
    fs.writeFileSync(path.join(root, "data", "src", "a.txt"), "a");
    const r = skyplane(home, [
      "sync",
      "local://nest-bkt/data/src",
      "local://nest-bkt/data",
      "--delete",
      "-y",
    ]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /local:\/\/nest-bkt\/data\/src is inside local:\/\/nest-bkt\/data: .*--delete would delete the source's own objects.*choose a destination outside the source/,
    );
    assert.deepEqual(
      filesUnder(root).filter((f) => !f.startsWith(".skyplane/")),
      ["data/keep.txt", "data/src/a.txt"],
      "nothing was deleted or copied",
    );
    noStack();
  });

  it("refuses sync --delete between overlapping folders, through a symbolic link too", () => {
    const dst = path.join(work, "dst");
    fs.mkdirSync(path.join(dst, "inner"), { recursive: true });
    fs.writeFileSync(path.join(dst, "inner", "a.txt"), "a");
    fs.symlinkSync(path.join(dst, "inner"), path.join(work, "alias"));
    const r = skyplane(home, ["sync", path.join(work, "alias"), dst, "--delete", "-y"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /--delete would delete the source's own objects/);
    assert.deepEqual(filesUnder(dst), ["inner/a.txt"]);
    noStack();
  });

  it("warns about a copy into an overlapping destination without --delete", () => {
    assert.equal(skyplane(home, ["mb", "local://self-bkt", "--region", "local:east"]).code, 0);
    fs.mkdirSync(path.join(home, "buckets", "self-bkt", "data"));
    fs.writeFileSync(path.join(home, "buckets", "self-bkt", "data", "a.txt"), "a");
    const r = skyplane(home, [
      "sync",
      "local://self-bkt/data",
      "local://self-bkt/data/copy",
      "--dry-run",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /warning: local:\/\/self-bkt\/data\/copy is inside local:\/\/self-bkt\/data/,
    );
    // Distinct prefixes that only share leading characters do not overlap.
    const apart = skyplane(home, [
      "sync",
      "local://self-bkt/data",
      "local://self-bkt/database",
      "--dry-run",
    ]);
    assert.equal(apart.code, 0, apart.stderr);
    assert.doesNotMatch(apart.stderr, /warning/);
  });

  for (const [what, dst] of [
    ["a key with ../", "local://key-dst/../escape.txt"],
    ["an absolute key", "local://key-dst//etc/escape.txt"],
    ["a key in skyplane's records", "local://key-dst/.skyplane/bucket.json"],
  ]) {
    it(`refuses ${what} as a destination before provisioning (exit 1)`, () => {
      assert.equal(skyplane(home, ["mb", "local://key-src", "--region", "local:east"]).code, 0);
      assert.equal(skyplane(home, ["mb", "local://key-dst", "--region", "local:west"]).code, 0);
      fs.writeFileSync(path.join(home, "buckets", "key-src", "x.txt"), "x");
      const r = skyplane(home, ["cp", "local://key-src/x.txt", dst, "-y"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /invalid destination key .*: .*choose a destination key/);
      noStack();
      assert.deepEqual(filesUnder(path.join(home, "buckets", "key-dst")), [
        ".skyplane/bucket.json",
      ]);
    });
  }

  it("reports symbolic links in a source folder as skipped, and follows those inside it with --follow-symlinks", () => {
    assert.equal(skyplane(home, ["mb", "local://link-dst", "--region", "local:west"]).code, 0);
    const src = path.join(work, "src");
    const inner = path.join(src, "inner");
    const outside = path.join(work, "outside");
    fs.mkdirSync(path.join(inner, "deep"), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(src, "real.txt"), "real");
    fs.writeFileSync(path.join(inner, "target.txt"), "target");
    fs.writeFileSync(path.join(inner, "deep", "d.txt"), "d");
    fs.writeFileSync(path.join(outside, "secret.txt"), "not in the source");
    fs.symlinkSync(path.join(inner, "target.txt"), path.join(src, "file-link.txt"));
    fs.symlinkSync(inner, path.join(src, "dir-link"));
    fs.symlinkSync(src, path.join(src, "loop")); // a cycle is skipped even when following
    fs.symlinkSync(outside, path.join(src, "escape")); // out of the folder: never followed
    fs.symlinkSync(path.join(outside, "secret.txt"), path.join(src, "escape.txt"));

    const skipped = skyplane(home, ["sync", src, "local://link-dst/", "--dry-run", "--json"]);
    assert.equal(skipped.code, 0, skipped.stderr);
    const plain = JSON.parse(skipped.stdout);
    assert.equal(plain.objects, 3);
    assert.equal(plain.skippedLinks, 5);
    assert.match(skipped.stderr, /skipped 5 symbolic link\(s\) .*--follow-symlinks/);

    const followed = skyplane(home, [
      "sync",
      src,
      "local://link-dst/",
      "--dry-run",
      "--json",
      "--follow-symlinks",
    ]);
    assert.equal(followed.code, 0, followed.stderr);
    const all = JSON.parse(followed.stdout);
    assert.deepEqual(all.sync.copy.map((o: { srcKey: string }) => o.srcKey).sort(), [
      "dir-link/deep/d.txt",
      "dir-link/target.txt",
      "file-link.txt",
      "inner/deep/d.txt",
      "inner/target.txt",
      "real.txt",
    ]);
    assert.equal(all.skippedLinks, 3, "the cycle and the two links out of the folder are skipped");
    assert.match(followed.stderr, /skipped 3 symbolic link\(s\) .*never followed/);

    // And through the gateways: what the links point to arrives as plain objects.
    const copied = skyplane(home, [
      "cp",
      src,
      "local://link-dst/",
      "-r",
      "-y",
      "--json",
      "--follow-symlinks",
    ]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.equal(JSON.parse(copied.stdout).objects, 6);
    const dst = path.join(home, "buckets", "link-dst");
    assert.equal(fs.readFileSync(path.join(dst, "dir-link", "deep", "d.txt"), "utf8"), "d");
    assert.equal(fs.lstatSync(path.join(dst, "file-link.txt")).isFile(), true);
    assert.equal(fs.existsSync(path.join(dst, "escape.txt")), false, "nothing from outside");
  });
});
