import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** The compiled `skyplane` command. */
export const CLI_MAIN = path.join(__dirname, "..", "..", "cli", "main.js");

/** Runs `skyplane ARGS` with SKYPLANE_HOME=home and waits for it. */
export function runCli(home: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI_MAIN, ...args], {
    env: { ...process.env, SKYPLANE_HOME: home },
    encoding: "utf8",
    timeout: 170_000,
  });
}

/** A `skyplane ARGS` process in the background, its stderr and stdout collected. */
export interface BackgroundCli {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stderr(): string;
  stdout(): string;
}

/** Starts `skyplane ARGS` with SKYPLANE_HOME=home. */
export function startCli(home: string, args: string[]): BackgroundCli {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], {
    env: { ...process.env, SKYPLANE_HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  let out = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString("utf8")));
  child.stdout?.on("data", (d: Buffer) => (out += d.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
    (resolve) => child.once("close", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { child, exited, stderr: () => err, stdout: () => out };
}

/** Writes `blocks` × 64 MiB of incompressible data to `file`. */
export function writeBigFile(file: string, blocks: number): void {
  const block = crypto.randomBytes(64 << 20);
  const fd = fs.openSync(file, "w");
  for (let i = 0; i < blocks; i++) fs.writeSync(fd, block);
  fs.closeSync(fd);
}

/** Polls `ok` every 20 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Size of the in-progress multipart upload in a local bucket folder (0 while none has data yet). */
export function uploadBytes(bucketDir: string): number {
  let n = 0;
  for (const file of workFiles(bucketDir)) {
    if (!path.basename(file).startsWith("upload-")) continue;
    try {
      n += fs.statSync(file).size;
    } catch {
      // completed or aborted meanwhile
    }
  }
  return n;
}

/** The work files in a bucket folder (`.skyplane/tmp/<owner>/<kind>-<hex>`), as absolute paths. */
export function workFiles(bucketDir: string): string[] {
  const work = path.join(bucketDir, ".skyplane", "tmp");
  const found: string[] = [];
  for (const owner of fs.existsSync(work) ? fs.readdirSync(work) : []) {
    try {
      for (const f of fs.readdirSync(path.join(work, owner))) found.push(path.join(work, owner, f));
    } catch {
      // removed meanwhile
    }
  }
  return found;
}

/** Pids of the gateways of `stack` in `home`, from the files they write once they listen. */
export function gatewayPids(home: string, stack: string): number[] {
  const dir = path.join(home, "run", stack);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")).pid as number)
    .sort();
}

/**
 * Processes whose command line mentions `home` (gateway daemons name their info file under it), other
 * than this one; `scanned` says how many processes were looked at.
 */
export function processesOf(home: string): { pids: number[]; scanned: number } {
  const pids: number[] = [];
  let scanned = 0;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    scanned++;
    if (cmdline.includes(`${home}/`)) pids.push(Number(entry));
  }
  return { pids, scanned };
}
