import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { deferredModule, deferredModules } from "../../common/defer";
import { providerPluginDir } from "../../runner/engine";
import { ensureHome } from "../../runner/home";

const HOST = path.resolve(__dirname, "../../runner/provider-host.js");
const DEFER = path.resolve(__dirname, "../../common/defer.js");

describe("runner/provider-host", () => {
  it("loads a deferred module on its first use, and answers as __importStar and __importDefault expect", () => {
    let loads = 0;
    const cjs = Object.assign(() => "called", { version: "1.2.3" });
    const stand = deferredModule(() => {
      loads++;
      return cjs;
    }) as Record<string, unknown>;
    assert.equal(stand.__esModule, true);
    assert.equal(loads, 0, "nothing loaded by the interop helpers' first look");
    assert.equal(stand.version, "1.2.3");
    assert.equal(loads, 1);
    assert.equal(stand.default, cjs, "a CommonJS module is its own default export");
    assert.ok("version" in stand);
    assert.deepEqual(Object.keys(stand), ["version"]);
    assert.equal(loads, 1, "loaded once");
    const esm = deferredModule(() => ({ __esModule: true, default: 7, named: 8 })) as {
      default: number;
      named: number;
    };
    assert.deepEqual([esm.default, esm.named], [7, 8]);
  });

  it("defers the SDK's closure-serialiser modules in the provider process until something uses them", () => {
    assert.deepEqual([...deferredModules].sort(), [
      "@npmcli/arborist",
      "normalize-package-data",
      "typescript",
    ]);
    // In a process of its own: the hook replaces Module._load for the whole process.
    const script = `
      const { deferRequires, deferredModules } = require(${JSON.stringify(DEFER)});
      deferRequires(deferredModules);
      const loaded = () => Object.keys(require.cache).some((f) => f.includes("/node_modules/typescript/"));
      require("@pulumi/pulumi/runtime");
      const before = loaded();
      const ts = require("typescript");
      const version = ts.version;
      console.log(JSON.stringify({ before, after: loaded(), version }));`;
    const r = spawnSync(process.execPath, ["-e", script], {
      cwd: path.resolve(__dirname, "../../.."),
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as { before: boolean; after: boolean; version: string };
    assert.equal(seen.before, false, "the SDK's runtime loaded without TypeScript");
    assert.equal(seen.after, true, "TypeScript loaded on first use");
    assert.match(seen.version, /^\d+\.\d+\.\d+/);
  });

  describe("the plugin script", () => {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-plugin-"))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("is written into the home, owner-only, and again when it is stale", () => {
      const home = ensureHome(path.join(dir, "h"));
      const plugin = path.join(providerPluginDir(home), "pulumi-resource-pulumi-nodejs");
      assert.equal(path.dirname(plugin), path.join(home.pulumiHome, "skyplane-provider"));
      assert.equal(fs.statSync(plugin).mode & 0o777, 0o700);
      const text = fs.readFileSync(plugin, "utf8");
      assert.ok(text.includes(`'${process.execPath}' '${HOST}' "$@"`), text);
      fs.writeFileSync(plugin, "#!/bin/sh\nexit 1\n");
      providerPluginDir(home);
      assert.equal(fs.readFileSync(plugin, "utf8"), text, "rewritten");
    });

    it("serves the dynamic provider: it prints the port it listens on", async () => {
      const home = ensureHome(path.join(dir, "h"));
      const plugin = path.join(providerPluginDir(home), "pulumi-resource-pulumi-nodejs");
      // The engine's address is only dialled back for logs; the provider serves before it needs it.
      const child = spawn(plugin, ["127.0.0.1:1"], {
        cwd: path.resolve(__dirname, "../../.."),
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        const port = await new Promise<number>((resolve, reject) => {
          child.stdout.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim())));
          child.once("error", reject);
          child.once("exit", (code) => reject(new Error(`the plugin exited with ${code}`)));
        });
        assert.ok(Number.isInteger(port) && port > 0, `port ${port}`);
      } finally {
        child.kill("SIGKILL");
      }
    });

    it("ends itself when the engine that started it is killed", async () => {
      const home = ensureHome(path.join(dir, "h"));
      const plugin = path.join(providerPluginDir(home), "pulumi-resource-pulumi-nodejs");
      // A stand-in for the engine: a shell that starts the plugin, says its pid, and waits for it.
      const engine = spawn("sh", ["-c", `"$0" 127.0.0.1:1 & echo "$!"; wait`, plugin], {
        cwd: path.resolve(__dirname, "../../.."),
        stdio: ["ignore", "pipe", "inherit"],
      });
      const lines = readline.createInterface({ input: engine.stdout })[Symbol.asyncIterator]();
      const pid = Number((await lines.next()).value);
      const port = Number((await lines.next()).value); // it serves: it is up
      assert.ok(pid > 0 && port > 0, `pid ${pid}, port ${port}`);
      const running = () => {
        try {
          const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
          return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
        } catch {
          return false;
        }
      };
      assert.equal(running(), true);
      engine.kill("SIGKILL");
      // Node 20 has no pidfd: the process is looked at until it is gone, for at most 10 s.
      const deadline = Date.now() + 10_000;
      while (running() && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      const left = running();
      if (left) process.kill(pid, "SIGKILL");
      assert.equal(left, false, "the plugin outlived its engine");
    });
  });
});
