import * as assert from "node:assert/strict";
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/*
 * The library installs into another Node project: `npm pack` of this checkout, `npm install` of the
 * tarball into a scratch project, and `import { SkyplaneClient } from "skyplane-pulumi"` there (ES module
 * and CommonJS, with its types). Offline: the scratch project's dependencies are links to this checkout's
 * node_modules (what `npm ci` installed), so npm fetches nothing and the test takes seconds.
 */

const ROOT = path.join(__dirname, "..", "..");
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    timeout: 50_000,
    env: { ...process.env, npm_config_offline: "true", npm_config_audit: "false" },
  });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r;
}

describe("package: installs into another Node project", function () {
  this.timeout(90_000);
  let work: string;
  let app: string;
  let files: string[];
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-pack-"));
    const [packed] = JSON.parse(
      run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], ROOT).stdout,
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = packed.files.map((f) => f.path);
    app = path.join(work, "app");
    fs.mkdirSync(path.join(app, "node_modules", "@types"), { recursive: true });
    fs.writeFileSync(
      path.join(app, "package.json"),
      JSON.stringify({ name: "app", version: "1.0.0", private: true }),
    );
    // The dependencies (and the TypeScript types of Node, for the type check) as npm ci left them here.
    for (const dep of [...Object.keys(PKG.dependencies), "@types/node"]) {
      fs.mkdirSync(path.dirname(path.join(app, "node_modules", dep)), { recursive: true });
      fs.symlinkSync(
        fs.realpathSync(path.join(ROOT, "node_modules", dep)),
        path.join(app, "node_modules", dep),
      );
    }
    run(
      "npm",
      ["install", "--offline", "--ignore-scripts", "--no-fund", path.join(work, packed.filename)],
      app,
    );
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it("packs the compiled library, its engine files and nothing of the tests or sources", () => {
    for (const f of [
      "package.json",
      "dist/runner/index.js",
      "dist/runner/index.d.ts",
      "dist/cli/main.js",
      "dist/gateway-image/daemon/main.js",
      "dist/index.js",
      "dist/policy/index.js",
      "Pulumi.yaml",
      "policy/PulumiPolicy.yaml",
      "policy/package.json",
      "scripts/setup-pulumi.sh",
    ])
      assert.ok(files.includes(f), f);
    const stray = files.filter(
      (f) => /^(dist\/)?(test|bench)\//.test(f) || (f.endsWith(".ts") && !f.endsWith(".d.ts")),
    );
    assert.deepEqual(stray, []);
  });

  it("ships the gateway bundle built, which it returns without esbuild (a development dependency)", () => {
    const installed = path.join(app, "node_modules", PKG.name);
    const script = [
      `const { gatewayBundle } = require(${JSON.stringify(path.join(installed, "dist/gateway-image/bundle.js"))});`,
      "let esbuild = true;",
      'try { require.resolve("esbuild"); } catch { esbuild = false; }',
      "console.log(JSON.stringify({ esbuild, bundle: gatewayBundle() }));",
    ].join("\n");
    const out = JSON.parse(run(process.execPath, ["-e", script], app).stdout);
    const built = JSON.parse(
      fs.readFileSync(path.join(ROOT, "dist", "gateway-bundle", "manifest.json"), "utf8"),
    );
    assert.equal(out.esbuild, false, "esbuild is not installed with the package");
    assert.deepEqual(out.bundle, {
      ...built,
      path: path.join(fs.realpathSync(installed), "dist", "gateway-bundle", built.file),
    });
    assert.ok(files.includes(`dist/gateway-bundle/${built.file}`));
  });

  it("is installed from the tarball, not linked to this checkout", () => {
    const installed = path.join(app, "node_modules", PKG.name);
    assert.equal(fs.lstatSync(installed).isSymbolicLink(), false);
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8"));
    assert.equal(manifest.version, PKG.version);
  });

  it("imports SkyplaneClient as an ES module and with require(), and runs its bin", () => {
    fs.writeFileSync(
      path.join(app, "esm.mjs"),
      [
        'import { SkyplaneClient, UserError } from "skyplane-pulumi";',
        'import { createRequire } from "node:module";',
        'const client = new SkyplaneClient({ home: "/nonexistent/skyplane-home" });',
        "console.log(JSON.stringify({",
        '  where: createRequire(import.meta.url).resolve("skyplane-pulumi"),',
        "  copy: typeof client.copy,",
        '  exit: new UserError("USAGE", "x").exitStatus,',
        "}));",
      ].join("\n"),
    );
    const esm = JSON.parse(run(process.execPath, ["esm.mjs"], app).stdout);
    assert.deepEqual(esm, {
      where: path.join(fs.realpathSync(app), "node_modules", PKG.name, "dist/runner/index.js"),
      copy: "function",
      exit: 1,
    });
    const cjs = run(
      process.execPath,
      ["-e", 'console.log(typeof require("skyplane-pulumi").SkyplaneClient)'],
      app,
    );
    assert.equal(cjs.stdout.trim(), "function");
    const help = run(path.join(app, "node_modules", ".bin", "skyplane"), ["--help"], app);
    assert.match(help.stdout, /skyplane cp <src> <dst>/);
  });

  it("gives TypeScript the library's types", () => {
    fs.writeFileSync(
      path.join(app, "check.ts"),
      [
        'import { SkyplaneClient, type CopyRequest } from "skyplane-pulumi";',
        'const req: CopyRequest = { src: "local://a/x", dst: "local://b/x" };',
        "const copied: Promise<unknown> = new SkyplaneClient().copy(req);",
        "void copied;",
        "// @ts-expect-error: only the package's entry point is exported",
        'import type { CopyRequest as Deep } from "skyplane-pulumi/dist/runner/client";',
        "export type { Deep };",
      ].join("\n"),
    );
    const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const args = ["--noEmit", "--strict", "--skipLibCheck", "--module", "node16", "check.ts"];
    run(process.execPath, [tsc, ...args], app);
  });
});
