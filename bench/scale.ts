import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalStore, localBucketRoot } from "../stores";

/*
 * npm run bench:scale — how cost grows with the number of objects: a whole local bucket of tiny objects
 * (SKYPLANE_BENCH_SCALE_SIZES, default "100000,1000000"; 32 bytes each, 1,000 to a folder) copied from
 * local:east to local:west by `SkyplaneClient.copy()` in a process of its own (bench/scale-runner.ts),
 * on a route kept warm (a one-object `skyplane cp --keep-warm` before, untimed), so that what is timed
 * is listing, dispatch, transfer and verification, not the engine. One JSON line per size:
 *
 *   objectsPerSecond, wallSeconds (the runner process from spawn to exit), copySeconds (its `copy()`
 *   call) and transferSeconds (the transfer's own, from its first dispatch); the runner's and each
 *   gateway's peak RSS (VmHWM, read while they still run); seconds from `copy()` to the first chunk
 *   dispatched and to the first object landed; targets (runner peak RSS ≤ 300 MiB at a million keys,
 *   first chunk dispatched ≤ 2 s) with `met`; and the baseline measured in the same run, rclone's
 *   local-to-local `copy` of the same folder (with its defaults, and with --transfers 32), timed the
 *   same way (spawn to exit), with `ratio` = the faster rclone's wall time over ours (> 1: faster).
 *
 * The objects are generated once (untimed) into a cache, the skyplane home SKYPLANE_BENCH_SCALE_HOME
 * (default /tmp/skyplane-bench-scale): its local buckets `scale-<N>` are kept for the next run (about
 * 4 KiB of disk and one inode per object, plus a folder per thousand); everything else a run makes
 * (the destination bucket, rclone's copy, the route's stack) is removed when it ends. Remove the
 * folder to reclaim the space. SKYPLANE_BENCH_SCALE_BASELINES picks baselines ("rclone,rclone32",
 * default both; "" for none).
 */

const r3 = (x: number) => Number(x.toPrecision(3));
const HOME = path.resolve(process.env.SKYPLANE_BENCH_SCALE_HOME ?? "/tmp/skyplane-bench-scale");
const SIZES = (process.env.SKYPLANE_BENCH_SCALE_SIZES ?? "100000,1000000")
  .split(",")
  .filter(Boolean)
  .map(Number);
const BASELINES = (process.env.SKYPLANE_BENCH_SCALE_BASELINES ?? "rclone,rclone32")
  .split(",")
  .filter(Boolean);
const PER_FOLDER = 1000;
const OBJECT_BYTES = 32;
const CLI = path.join(path.resolve(__dirname, ".."), "cli", "main.js");
const RUNNER = path.join(__dirname, "scale-runner.js");
const STACK = "local-east--local-west";

/** The key of object `i`: `d0001/f0002` (1,000 to a folder). */
function keyOf(i: number): string {
  const d = String(Math.floor(i / PER_FOLDER)).padStart(4, "0");
  return `d${d}/f${String(i % PER_FOLDER).padStart(4, "0")}`;
}

/** The local bucket `scale-<n>` in local:east with `n` tiny objects, generated once (untimed). */
async function sourceBucket(n: number): Promise<string> {
  const name = `scale-${n}`;
  const root = localBucketRoot({ home: HOME }, name);
  const done = path.join(HOME, `${name}.complete`);
  if (fs.existsSync(done)) return name;
  process.stderr.write(`bench:scale: generating ${n} objects in ${root} (once)\n`);
  fs.rmSync(root, { recursive: true, force: true });
  await LocalStore.createBucket(name, root, "local:east");
  for (let i = 0; i < n; i++) {
    if (i % PER_FOLDER === 0)
      fs.mkdirSync(path.join(root, keyOf(i).split("/")[0]), { recursive: true });
    fs.writeFileSync(path.join(root, keyOf(i)), `object ${String(i).padStart(24, "0")}\n`);
  }
  fs.writeFileSync(done, `${n}\n`);
  return name;
}

/** Runs a command; resolves to its wall time and stdout, or rejects with its stderr's end. */
function timed(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr
      .setEncoding("utf8")
      .on("data", (s: string) => (stderr = (stderr + s).slice(-4000)));
    child.once("error", reject);
    child.once("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) resolve({ seconds, stdout });
      else reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}: ${stderr}`));
    });
  });
}

const skyplaneEnv = { ...process.env, SKYPLANE_HOME: HOME };
const skyplane = (args: string[]) => timed(process.execPath, [CLI, ...args], skyplaneEnv);

/** Files under `dir` (rclone's copy), counted without holding their names. */
function countFiles(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true }))
    n += e.isDirectory() ? countFiles(path.join(dir, e.name)) : 1;
  return n;
}

/** rclone's local-to-local copy of the bucket's folder (its records left out), spawn to exit. */
async function rclone(src: string, n: number, extra: string[]): Promise<number> {
  const dst = path.join(HOME, "rclone-dst");
  fs.rmSync(dst, { recursive: true, force: true });
  const config = path.join(HOME, "rclone.conf");
  fs.writeFileSync(config, "");
  try {
    const { seconds } = await timed("rclone", [
      "copy",
      src,
      dst,
      "--config",
      config,
      "--exclude",
      "/.skyplane/**",
      ...extra,
    ]);
    const copied = countFiles(dst);
    if (copied !== n) throw new Error(`rclone copied ${copied} of ${n} objects`);
    return seconds;
  } finally {
    fs.rmSync(dst, { recursive: true, force: true });
  }
}

async function run(n: number): Promise<void> {
  const name = await sourceBucket(n);
  const dstName = "scale-dst";
  const dstRoot = localBucketRoot({ home: HOME }, dstName);
  fs.rmSync(dstRoot, { recursive: true, force: true });
  await LocalStore.createBucket(dstName, dstRoot, "local:west");
  const load = () => os.loadavg().map(r3);
  const loadBefore = load();
  let ours: Record<string, unknown>;
  let wall: number;
  try {
    // The route, kept warm by a copy of one object between the same buckets (untimed).
    await skyplane(
      // Kept warm longer than any copy here: a warm gateway ends at its expiry, mid-copy or not.
      [
        "cp",
        `local://${name}/${keyOf(0)}`,
        `local://${dstName}/warm-up`,
        "-y",
        "--keep-warm",
        "3h",
      ],
    );
    fs.rmSync(path.join(dstRoot, "warm-up"), { force: true });
    const r = await timed(
      process.execPath,
      [RUNNER, HOME, `local://${name}/`, `local://${dstName}/`, STACK],
      skyplaneEnv,
    );
    wall = r.seconds;
    ours = JSON.parse(r.stdout.trim().split("\n").pop() as string) as Record<string, unknown>;
  } finally {
    await skyplane(["deprovision", "-y", "--force", STACK]).catch((err: Error) =>
      process.stderr.write(`teardown of ${STACK} failed: ${err.message}\n`),
    );
    fs.rmSync(dstRoot, { recursive: true, force: true });
  }
  if (ours.objects !== n || ours.verified !== n)
    throw new Error(`copied ${String(ours.objects)} of ${n} objects: ${JSON.stringify(ours)}`);

  const baselines: Record<string, number> = {};
  const hasRclone = spawnSync("rclone", ["version"], { stdio: "ignore" }).status === 0;
  for (const b of BASELINES) {
    if (!hasRclone) break;
    const extra = b === "rclone32" ? ["--transfers", "32"] : b === "rclone" ? [] : undefined;
    if (!extra) throw new Error(`SKYPLANE_BENCH_SCALE_BASELINES: no baseline ${b}`);
    baselines[b] = r3(await rclone(localBucketRoot({ home: HOME }, name), n, extra));
  }
  const marks = ours.marks as { firstDispatched?: number; firstLanded?: number };
  const runnerRss = ours.runnerPeakRssMiB as number;
  const best = Math.min(...Object.values(baselines));
  console.log(
    JSON.stringify({
      bench: "scale",
      work: `local:east → local:west, ${n} × ${OBJECT_BYTES} B (1,000 per folder), route kept warm`,
      objects: n,
      objectsPerSecond: r3(n / wall),
      wallSeconds: r3(wall),
      copySeconds: r3(ours.copySeconds as number),
      transferSeconds: r3(ours.transferSeconds as number),
      provision: ours.provision,
      firstDispatchedSeconds: marks.firstDispatched && r3(marks.firstDispatched),
      firstLandedSeconds: marks.firstLanded && r3(marks.firstLanded),
      runnerPeakRssMiB: runnerRss,
      gatewayPeakRssMiB: ours.gatewayPeakRssMiB,
      targets: {
        runnerRss: {
          maxMiB: 300,
          at: "1,000,000 keys",
          met: runnerRss <= 300,
        },
        firstDispatch: {
          maxSeconds: 2,
          met: marks.firstDispatched !== undefined && marks.firstDispatched <= 2,
        },
      },
      baseline: hasRclone
        ? { tool: "rclone copy (local folder → local folder)", wallSeconds: baselines }
        : { skipped: "rclone is not installed (bash scripts/setup.sh installs it)" },
      ...(Object.keys(baselines).length
        ? { ratio: r3(best / wall), as: "the faster rclone's wall time over ours (> 1: faster)" }
        : {}),
      load: { before: loadBefore, after: load() },
    }),
  );
}

async function main(): Promise<void> {
  for (const n of SIZES)
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`SKYPLANE_BENCH_SCALE_SIZES: ${n} is not a count of objects`);
  fs.mkdirSync(HOME, { recursive: true, mode: 0o700 });
  for (const n of SIZES) await run(n);
}

main().catch((err: Error) => {
  process.stderr.write(`bench:scale failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
