import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LoopbackDataplane, startDataplane } from "../../bench/loopback";
import {
  BUNDLE_DIR,
  BUNDLE_ENTRY,
  buildGatewayBundle,
  GatewayBundle,
  gatewayBundle,
  readGatewayBundle,
} from "../../gateway-image/bundle";
import { NODE_RUNTIME } from "../../gateway-image/node-runtime";
import { GatewayClient } from "../../runner/gateway-client";
import { runTransfer, DEFAULT_TRANSFER_OPTIONS } from "../../runner/transfer";
import { planned } from "../helpers/plan";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const sha256 = (file: string) =>
  crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

describe("gateway-image/bundle: the reproducible gateway bundle", function () {
  this.timeout(180_000);
  let tmp: string;
  let first: GatewayBundle;
  let second: GatewayBundle;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-bundle-test-"));
    first = buildGatewayBundle(path.join(tmp, "one"));
    second = buildGatewayBundle(path.join(tmp, "two"));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("is byte-identical across two builds, and its sha256 is the manifest's", () => {
    assert.notEqual(first.path, second.path);
    assert.ok(fs.readFileSync(first.path).equals(fs.readFileSync(second.path)));
    for (const b of [first, second]) {
      const manifest = JSON.parse(
        fs.readFileSync(path.join(path.dirname(b.path), "manifest.json"), "utf8"),
      );
      assert.deepEqual(Object.keys(manifest).sort(), ["bytes", "file", "nodeVersion", "sha256"]);
      assert.equal(manifest.sha256, sha256(b.path));
      assert.equal(manifest.bytes, fs.statSync(b.path).size);
      assert.equal(manifest.nodeVersion, NODE_RUNTIME.version);
      assert.equal(manifest.file, path.basename(b.path));
    }
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version;
    assert.equal(first.file, `skyplane-gateway-${version}-linux-x64.tar.gz`);
  });

  it("holds sorted entries with one mtime and owner root, the native addons beside main.js", () => {
    const listing = execFileSync(
      "tar",
      ["--list", "--verbose", "--numeric-owner", "--full-time", "-zf", first.path],
      {
        encoding: "utf8",
      },
    )
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/));
    const names = listing.map((f) => f[5]);
    assert.deepEqual(names, [...names].sort(), "sorted");
    assert.deepEqual(names, [
      "skyplane-gateway/",
      "skyplane-gateway/crc32.LICENSE",
      "skyplane-gateway/crc32.linux-x64-gnu.node",
      "skyplane-gateway/main.js",
      "skyplane-gateway/zstd.LICENSE.md",
      "skyplane-gateway/zstd.linux-x64-gnu.node",
    ]);
    assert.equal(BUNDLE_ENTRY, "skyplane-gateway/main.js");
    assert.deepEqual([...new Set(listing.map((f) => f[1]))], ["0/0"], "owner root");
    assert.deepEqual([...new Set(listing.map((f) => `${f[3]} ${f[4]}`))], ["1980-01-01 00:00:00"]);
    assert.deepEqual(
      listing.map((f) => f[0]),
      // main.js has a #! line
      ["drwxr-xr-x", "-rw-r--r--", "-rw-r--r--", "-rwxr-xr-x", "-rw-r--r--", "-rw-r--r--"],
    );
    // No path of the machine that built it: the checkout's location is not in the bytes.
    const main = execFileSync("tar", ["-xzOf", first.path, BUNDLE_ENTRY], {
      maxBuffer: 64 * 1024 ** 2,
    }).toString("utf8");
    assert.ok(
      main.includes("// dist/gateway-image/daemon/main.js"),
      "paths relative to the package",
    );
    assert.ok(!main.includes(ROOT), `no ${ROOT} in the bundle`);
    assert.doesNotMatch(
      main,
      /^\/\/ \.\.\//m,
      "no path out of the package (a linked node_modules)",
    );
    assert.ok(!main.includes(os.tmpdir() + "/skyplane-bundle-"), "no staging path in the bundle");
  });

  it("is what gatewayBundle() returns, rebuilt when missing, tampered with or stale", () => {
    const dir = path.join(tmp, "three");
    assert.equal(readGatewayBundle(dir), undefined, "nothing there yet");
    buildGatewayBundle(dir);
    const read = readGatewayBundle(dir);
    assert.equal(read?.sha256, first.sha256);
    // Built from our compiled daemon: a change there (tsc after an edit) makes it stale.
    const inputsFile = path.join(dir, "inputs.json");
    const inputs = JSON.parse(fs.readFileSync(inputsFile, "utf8")) as Record<string, string>;
    assert.ok(inputs["dist/gateway-image/daemon/main.js"], "the daemon is an input");
    assert.ok(Object.keys(inputs).length >= 20, `${Object.keys(inputs).length} inputs`);
    assert.deepEqual(
      Object.keys(inputs).filter((p) => !p.startsWith("dist/")),
      [],
    );
    fs.writeFileSync(
      inputsFile,
      JSON.stringify({ ...inputs, "dist/gateway-image/daemon/main.js": "0".repeat(64) }),
    );
    assert.equal(readGatewayBundle(dir), undefined, "built from a daemon that has changed since");
    fs.writeFileSync(inputsFile, JSON.stringify(inputs));
    assert.equal(readGatewayBundle(dir)?.sha256, first.sha256);
    fs.appendFileSync(read.path, "tampered");
    assert.equal(readGatewayBundle(dir), undefined, "a tarball that does not match its manifest");
    // The package's own (npm run build, or rebuilt now if stale) is the same bytes as a fresh build.
    const own = gatewayBundle();
    assert.equal(path.dirname(own.path), BUNDLE_DIR);
    assert.equal(own.sha256, first.sha256);
  });

  describe("unpacked outside the checkout and run with a plain node", () => {
    let unpacked: string;
    let dp: LoopbackDataplane | undefined;
    before(() => {
      unpacked = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-gateway-unpacked-"));
      execFileSync("tar", ["-xzf", first.path, "-C", unpacked]);
    });
    after(async () => {
      await dp?.stop();
      fs.rmSync(unpacked, { recursive: true, force: true });
    });

    it("has no node_modules to resolve from, here or above", () => {
      const main = path.join(unpacked, BUNDLE_ENTRY);
      assert.ok(!main.startsWith(ROOT + path.sep));
      const above: string[] = [];
      for (let d = path.dirname(main); ; d = path.dirname(d)) {
        above.push(d);
        if (d === path.dirname(d)) break;
      }
      assert.ok(above.length >= 3, `looked at ${above.length} folders`);
      assert.deepEqual(
        above.filter((d) => fs.existsSync(path.join(d, "node_modules"))),
        [],
        "a node_modules the bundle could load from",
      );
    });

    it("answers its control API with the token, and moves a zstd-compressed, encrypted chunk", async () => {
      const main = path.join(unpacked, BUNDLE_ENTRY);
      dp = await startDataplane({ compress: "zstd", encrypt: true, main });
      const status = await dp.client.status();
      assert.equal(status.gatewayId, "east-0");
      const stranger = new GatewayClient(dp.client.endpoint, "not-the-token", 2000);
      await assert.rejects(stranger.status(), "a wrong token is refused");
      const text = Buffer.from("the gateway bundle, compressed on the wire ".repeat(50_000));
      await dp.src.put("data/text.txt", text);
      const result = await runTransfer(
        await planned(dp.home, { src: "local://src/data/text.txt", dst: "local://dst/copy.txt" }),
        { sources: [dp.client], stores: { home: dp.home }, dstRegion: "local:west" },
        { ...DEFAULT_TRANSFER_OPTIONS, pollIntervalMs: 20 },
      );
      assert.equal(result.bytes, text.length);
      assert.ok((await dp.dst.get("copy.txt")).equals(text));
      // Both daemons run the bundle, and loaded its addons from beside it, not from the checkout.
      for (const gw of [dp.source, dp.dest]) {
        const cmdline = fs.readFileSync(`/proc/${gw.info.pid}/cmdline`, "utf8").split("\0");
        assert.equal(cmdline[1], main);
        const maps = fs.readFileSync(`/proc/${gw.info.pid}/maps`, "utf8");
        for (const addon of ["zstd.linux-x64-gnu.node", "crc32.linux-x64-gnu.node"])
          assert.ok(
            maps.includes(path.join(unpacked, "skyplane-gateway", addon)),
            `gateway ${gw.info.gatewayId} loaded the bundle's ${addon}`,
          );
        assert.ok(!maps.includes("node_modules"), "nothing mapped from a node_modules");
      }
    });
  });
});
