import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { InternalError, UserError } from "../errors";
import { NODE_RUNTIME } from "./node-runtime";

/*
 * The gateway bundle: the daemon (daemon/main.ts) and everything it loads, as one JavaScript file made by
 * esbuild, with the native addons it loads (zstd, SIMD CRC-32) beside it, in one tar.gz that a VM's boot
 * script fetches from the stack's artifacts store, checks against its sha256 and runs with a plain
 * `node skyplane-gateway/main.js …` (the daemon's own flags). Reproducible: the same sources and
 * lockfile give the same bytes, so the same sha256, so an unchanged bundle leaves every gateway's
 * inputs unchanged. esbuild bundles the compiled daemon (dist/), which loads its dependencies with
 * require() as the tests run it; paths in the bundle are relative to the package, whatever the checkout.
 * The archive has sorted entries, one fixed mtime, owner root and fixed modes (GNU tar, as
 * https://reproducible-builds.org/docs/archives/ describes), gzipped without a name or time.
 * `npm run build` builds it into dist/gateway-bundle/ with a manifest; `gatewayBundle()` returns that.
 */

/** The folder every entry of the tarball is in. */
export const BUNDLE_ROOT = "skyplane-gateway";

/** The daemon's entry point inside the tarball: `node skyplane-gateway/main.js --program …`. */
export const BUNDLE_ENTRY = `${BUNDLE_ROOT}/main.js`;

/** What `npm run build` writes beside the tarball, as manifest.json. */
export interface BundleManifest {
  /** The tarball's file name: `skyplane-gateway-<version>-linux-x64.tar.gz`. */
  readonly file: string;
  /** Its sha256, hex. */
  readonly sha256: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** The Node release it is built for and booted with (node-runtime.ts). */
  readonly nodeVersion: string;
}

/** A built bundle: its manifest and where the tarball is on this machine. */
export interface GatewayBundle extends BundleManifest {
  /** Absolute path of the tarball. */
  readonly path: string;
}

/** The package's root (this file is dist/gateway-image/bundle.js). */
const PACKAGE_ROOT = path.resolve(__dirname, "..", "..");

/** Where `npm run build` puts the bundle and its manifest. */
export const BUNDLE_DIR = path.join(PACKAGE_ROOT, "dist", "gateway-bundle");

/** The compiled daemon that esbuild starts from. */
const DAEMON_ENTRY = path.join(__dirname, "daemon", "main.js");

/** The one mtime of every entry: 1980-01-01, which no tar or zip tool calls implausible. */
const MTIME = 315532800;

/**
 * The native addons for linux-x64 (glibc) that the daemon's dependencies load from beside their JS, each
 * shipped beside main.js with its licence: zstd (@mongodb-js/zstd) and SIMD CRC-32/CRC-32C (@node-rs/crc32).
 */
const ADDONS = [
  {
    file: "zstd.linux-x64-gnu.node",
    from: "@mongodb-js/zstd-linux-x64-gnu",
    license: ["@mongodb-js/zstd", "LICENSE.md", "zstd.LICENSE.md"],
  },
  {
    file: "crc32.linux-x64-gnu.node",
    from: "@node-rs/crc32-linux-x64-gnu",
    license: ["@node-rs/crc32", "LICENSE", "crc32.LICENSE"],
  },
] as const;

/** Builds the bundle into `outDir` (default BUNDLE_DIR) with its manifest.json, and returns it. */
export function buildGatewayBundle(outDir: string = BUNDLE_DIR): GatewayBundle {
  let esbuild: typeof import("esbuild");
  try {
    // A development dependency, loaded only to build: an installed package ships the bundle built.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    esbuild = require("esbuild");
  } catch (err) {
    throw new UserError(
      "BUNDLE_MISSING",
      `no gateway bundle in ${outDir}, and esbuild (a development dependency) is not installed to build one: run 'npm run build' in a checkout of skyplane`,
      { cause: err },
    );
  }
  const version = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8"))
    .version as string;
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-bundle-"));
  try {
    const dir = path.join(stage, BUNDLE_ROOT);
    fs.mkdirSync(dir);
    let inputs: string[];
    try {
      const result = esbuild.buildSync({
        entryPoints: [DAEMON_ENTRY],
        outfile: path.join(dir, "main.js"),
        absWorkingDir: PACKAGE_ROOT,
        bundle: true,
        platform: "node",
        target: "node20",
        format: "cjs",
        // node_modules may be a link (a worktree's): paths stay node_modules/…, the same in any checkout.
        preserveSymlinks: true,
        // The addon is loaded at run time from beside main.js; the per-platform packages are never there.
        external: ["*.node", "@mongodb-js/zstd-*", "@node-rs/crc32-*"],
        legalComments: "eof",
        logLevel: "silent",
        metafile: true,
      });
      inputs = Object.keys(result.metafile?.inputs ?? {});
    } catch (err) {
      throw new InternalError(
        "BUNDLE_BUILD_FAILED",
        `esbuild could not bundle ${path.relative(PACKAGE_ROOT, DAEMON_ENTRY)}: ${(err as Error).message} (is dist/ compiled? run 'npm run build')`,
        { cause: err },
      );
    }
    for (const addon of ADDONS) {
      let file: string;
      try {
        file = require.resolve(`${addon.from}/${addon.file}`, { paths: [PACKAGE_ROOT] });
      } catch (err) {
        throw new InternalError(
          "BUNDLE_BUILD_FAILED",
          `the native addon ${addon.file} (${addon.from}) is not installed here: build the gateway bundle on linux-x64, or install it with 'npm install --os=linux --cpu=x64 --libc=glibc'`,
          { cause: err },
        );
      }
      fs.copyFileSync(file, path.join(dir, addon.file));
      const [pkg, license, as] = addon.license;
      const root = path.dirname(require.resolve(`${pkg}/package.json`, { paths: [PACKAGE_ROOT] }));
      fs.copyFileSync(path.join(root, license), path.join(dir, as));
    }
    const tar = execFileSync(
      "tar",
      [
        "--create",
        "--file=-",
        "--format=gnu",
        "--sort=name",
        `--mtime=@${MTIME}`,
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "--mode=u=rwX,go=rX",
        "--directory",
        stage,
        BUNDLE_ROOT,
      ],
      { maxBuffer: 1024 ** 3 },
    );
    // zlib's gzip header carries no name and a zero time: the same tar gives the same bytes.
    const gz = zlib.gzipSync(tar, { level: 9 });
    const manifest: BundleManifest = {
      file: `skyplane-gateway-${version}-linux-x64.tar.gz`,
      sha256: crypto.createHash("sha256").update(gz).digest("hex"),
      bytes: gz.length,
      nodeVersion: NODE_RUNTIME.version,
    };
    fs.mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, manifest.file);
    writeAtomically(file, gz);
    writeAtomically(path.join(outDir, INPUTS), JSON.stringify(ownInputs(inputs), null, 2) + "\n");
    writeAtomically(path.join(outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    return { ...manifest, path: file };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

/** Beside the manifest: the sha256 of each compiled file of ours the bundle was built from. */
const INPUTS = "inputs.json";

/**
 * The bundle's inputs under dist/ (our own compiled code) and their hashes. A rebuild of dist/ (tsc) that
 * changes one makes the bundle stale; the dependencies are not held to it (an installed package's sit
 * elsewhere), as they change only with the lockfile, and `npm run build` rebuilds the bundle anyway.
 */
function ownInputs(inputs: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    inputs
      .filter((p) => p.startsWith("dist/"))
      .sort()
      .map((p) => [p, fileSha256(path.join(PACKAGE_ROOT, p))]),
  );
}

function fileSha256(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function writeAtomically(file: string, data: string | Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** The bundle in `dir` if its manifest and tarball are there, agree, and are not stale; else undefined. */
export function readGatewayBundle(dir: string = BUNDLE_DIR): GatewayBundle | undefined {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  } catch {
    return undefined;
  }
  const file = path.join(dir, path.basename(manifest.file));
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  const sha256 = crypto.createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== manifest.sha256 || bytes.length !== manifest.bytes) return undefined;
  if (stale(dir)) return undefined;
  return { ...manifest, path: file };
}

/** True when a compiled file of ours that the bundle was built from has changed since (or is gone). */
function stale(dir: string): boolean {
  let inputs: Record<string, string>;
  try {
    inputs = JSON.parse(fs.readFileSync(path.join(dir, INPUTS), "utf8"));
  } catch {
    return true;
  }
  return Object.entries(inputs).some(([p, sha]) => {
    try {
      return fileSha256(path.join(PACKAGE_ROOT, p)) !== sha;
    } catch {
      return true;
    }
  });
}

/**
 * The gateway bundle that `npm run build` made (dist/gateway-bundle/), building it first if it is
 * missing, does not match its manifest, or was built from compiled code that has changed since.
 */
export function gatewayBundle(): GatewayBundle {
  return readGatewayBundle() ?? buildGatewayBundle();
}

if (require.main === module) {
  // `npm run build`: a fresh bundle, whatever is there.
  const built = buildGatewayBundle();
  process.stdout.write(
    `gateway bundle ${path.relative(process.cwd(), built.path)} (${built.bytes} bytes, sha256 ${built.sha256})\n`,
  );
}
