import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JobResult } from "../runner";

/*
 * npm run bench:routes — what it costs to bring a route up on the local cloud, measured as a user runs
 * it: `skyplane cp local://…/obj local://…/obj -y --json` of one 3-byte object, local:east → local:west,
 * each timed from spawn to exit in a skyplane home of its own. Three JSON lines:
 *
 *   cold:  the route provisioned and destroyed by every copy (the stack exists after the first run, as
 *          it does for a user's second copy on a route), with each step's wall time and engine runs:
 *          `provision` (engine runs: up; `version` and `stack init` only in the home's first), `transfer`,
 *          `teardown` (destroy), and
 *          `rest` (node's start, planning, listing and verification: the wall time the others leave);
 *          target ≤ 3 s of wall time (issue 13, item 3);
 *   warm provision: `provision()` of a route kept warm (`--keep-warm 10m`), which runs no engine at all;
 *          target ≤ 0.5 s;
 *   warm cp: the whole warm copy, with the cold one's wall time over it as `ratio`.
 *
 * `ratio` is the target over what was measured for the first two (≥ 1: met), printed, never asserted;
 * `load1` is the machine's one-minute load average as the case began, since a busy machine's numbers
 * are slower. SKYPLANE_ROUTES_RUNS sets the runs per case (default 5); each line gives the median and
 * every run.
 */

const CLI = path.join(path.resolve(__dirname, ".."), "cli", "main.js");
const RUNS = Number(process.env.SKYPLANE_ROUTES_RUNS ?? 5);
const r3 = (x: number) => Number(x.toPrecision(3));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function line(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench: "routes", ...fields }));
}

/** Runs `skyplane ARGS`; resolves to its wall time and stdout, or rejects with its stderr. */
function skyplane(home: string, args: string[]): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, SKYPLANE_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.once("error", reject);
    child.once("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) resolve({ seconds, stdout });
      else
        reject(new Error(`skyplane ${args.join(" ")} exited with ${code}: ${stderr.slice(-2000)}`));
    });
  });
}

/** One `cp … --json` of the object, its wall time and what it reported. */
async function copy(home: string, key: string, extra: string[] = []) {
  const r = await skyplane(home, [
    "cp",
    "local://routes-src/obj",
    `local://routes-dst/${key}`,
    "-y",
    "--json",
    ...extra,
  ]);
  const result = JSON.parse(r.stdout.trim().split("\n").pop() as string) as JobResult;
  if (result.objects !== 1 || !result.provision) throw new Error(`unexpected result: ${r.stdout}`);
  return { wall: r.seconds, result };
}

/** Engine runs as `command ms` pairs, for the JSON. */
function runs(result: JobResult["provision"] | JobResult["teardown"]) {
  return (result?.engineRuns ?? []).map((r) => ({ command: r.command, ms: r.ms }));
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-bench-routes-"));
  const stack = "local-east--local-west";
  try {
    await skyplane(home, ["mb", "local://routes-src", "--region", "local:east"]);
    await skyplane(home, ["mb", "local://routes-dst", "--region", "local:west"]);
    fs.writeFileSync(path.join(home, "buckets", "routes-src", "obj"), "abc");
    // The stack's first run also makes it (`stack init`): a user pays that once per route.
    const first = await copy(home, "first");

    const load1 = r3(os.loadavg()[0]);
    const cold = [];
    for (let i = 0; i < RUNS; i++) {
      const { wall, result } = await copy(home, `cold-${i}`);
      const provision = result.provision?.seconds ?? 0;
      const teardown = result.teardown?.seconds ?? 0;
      cold.push({
        wallSeconds: r3(wall),
        provision: { seconds: provision, engineRuns: runs(result.provision) },
        transferSeconds: result.seconds,
        teardown: { seconds: teardown, engineRuns: runs(result.teardown) },
        restSeconds: r3(wall - provision - result.seconds - teardown),
      });
    }
    const coldWall = median(cold.map((c) => c.wallSeconds));
    line({
      work: "cold cp, local:east → local:west, one 3-byte object",
      wallSeconds: r3(coldWall),
      steps: {
        provisionSeconds: r3(median(cold.map((c) => c.provision.seconds))),
        transferSeconds: r3(median(cold.map((c) => c.transferSeconds))),
        teardownSeconds: r3(median(cold.map((c) => c.teardown.seconds))),
        restSeconds: r3(median(cold.map((c) => c.restSeconds))),
      },
      engineRuns: cold[0].provision.engineRuns.length + cold[0].teardown.engineRuns.length,
      firstRun: {
        wallSeconds: r3(first.wall),
        engineRuns: [...runs(first.result.provision), ...runs(first.result.teardown)],
      },
      runs: cold,
      target: { wallSeconds: 3, as: "a cold local cp of one small object ≤ 3 s wall" },
      ratio: r3(3 / coldWall),
      met: coldWall <= 3,
      load1,
    });

    const warmLoad = r3(os.loadavg()[0]);
    const primed = await copy(home, "warm-prime", ["--keep-warm", "10m"]);
    const warm = [];
    for (let i = 0; i < RUNS; i++) {
      const { wall, result } = await copy(home, `warm-${i}`, ["--keep-warm", "10m"]);
      if (result.provision?.how !== "warm")
        throw new Error(`a warm copy went through the engine: ${result.provision?.reason}`);
      warm.push({
        wallSeconds: r3(wall),
        provisionSeconds: result.provision.seconds,
        engineRuns: result.provision.engineRuns.length,
        transferSeconds: result.seconds,
      });
    }
    const provisionSeconds = median(warm.map((w) => w.provisionSeconds));
    line({
      work: "warm provision(), local:east → local:west (--keep-warm)",
      seconds: r3(provisionSeconds),
      engineRuns: Math.max(...warm.map((w) => w.engineRuns)),
      primedBy: { wallSeconds: r3(primed.wall), provision: primed.result.provision?.how },
      runs: warm.map((w) => w.provisionSeconds),
      target: { seconds: 0.5, as: "a warm route provisions in ≤ 0.5 s, running no engine" },
      ratio: r3(0.5 / provisionSeconds),
      met: provisionSeconds <= 0.5,
      load1: warmLoad,
    });
    const warmWall = median(warm.map((w) => w.wallSeconds));
    line({
      work: "warm cp, local:east → local:west, one 3-byte object (--keep-warm)",
      wallSeconds: r3(warmWall),
      transferSeconds: r3(median(warm.map((w) => w.transferSeconds))),
      runs: warm.map((w) => w.wallSeconds),
      ratio: r3(coldWall / warmWall),
      as: "the cold cp's wall time over the warm one's",
      load1: warmLoad,
    });
  } finally {
    await skyplane(home, ["deprovision", "-y", "--force", stack]).catch((err: Error) =>
      process.stderr.write(`teardown of ${stack} failed: ${err.message}\n`),
    );
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:routes failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
