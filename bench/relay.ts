import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as inspector from "node:inspector";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { SkyplaneClient } from "../runner";
import { DEFAULT_TRANSFER_OPTIONS, runTransfer } from "../runner/transfer";
import { homeLayout } from "../common/paths";
import { cpuProfileArgs, startDataplane, LoopbackDataplane } from "./loopback";

/*
 * npm run bench:relay — copies one object of 64 MiB parts from a local bucket to another through a
 * source and a destination gateway, with encryption on and off, and measures in the same run two
 * baselines (bench/baseline-copy.ts) over as many connections: the same file from folder to folder, and
 * the same number of bytes from memory to memory (no files at all). `ratio` is ours over the file
 * baseline, `memoryRatio` ours over the memory pipe. One JSON line per configuration. Then moves a
 * 4 GiB object and reports the gateways' peak RSS (VmHWM).
 *
 * SKYPLANE_BENCH_GIB sets the size of the throughput object (default 2); SKYPLANE_BENCH_ROUNDS the
 * rounds per configuration (default 2; the best round counts: this machine is shared and noisy);
 * SKYPLANE_BENCH_CONFIGS which parts run (default "aes-256-gcm,plain,memory");
 * SKYPLANE_BENCH_GATEWAY_MAIN another build's gateway daemon (its dist/gateway-image/daemon/main.js), to
 * set an earlier version beside this one on the same machine.
 *
 * SKYPLANE_BENCH_CPU_PROF=DIR profiles every process of the data path: both gateways, the runner (this
 * process, while its transfers run) and both baseline processes, into DIR/<config>/ (east-0, west-0,
 * runner, baseline-send, baseline-receive .cpuprofile); `node dist/bench/cpu-profile.js DIR/<config>`
 * summarises them. Profiling slows every process: take ratios from a run without it.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** Parallel TCP connections of the send (SKYPLANE_BENCH_CONNECTIONS, default 2: this machine has two cores). */
const CONNECTIONS = Number(process.env.SKYPLANE_BENCH_CONNECTIONS ?? 2);

function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** CPU seconds (user and system, every thread) that process `pid` has used so far. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14, 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Clock ticks per second of /proc/PID/stat (USER_HZ: 100 on Linux). */
const TICKS = 100;

/** CPU seconds each of `pids` used while `work` ran, by name. */
async function cpuOf<T>(
  pids: Record<string, number>,
  work: () => Promise<T>,
): Promise<{ result: T; cpu: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const result = await work();
  const cpu = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid) - before[k]]),
  );
  return { result, cpu };
}

/** A round's rate and the CPU seconds per GiB of each process on its path. */
interface Round {
  readonly mbps: number;
  readonly cpu: Record<string, number>;
}

async function writeObject(file: string, bytes: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const block = crypto.randomBytes(64 * MiB); // incompressible; repeats are invisible to the cipher
  const fd = fs.openSync(file, "w");
  for (let at = 0; at < bytes; at += block.length)
    fs.writeSync(fd, block, 0, Math.min(block.length, bytes - at));
  fs.closeSync(fd);
}

/** A line-at-a-time view of a child's stdout. */
function lines(child: ChildProcess): AsyncIterator<string> {
  const rl = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
  return rl[Symbol.asyncIterator]();
}

async function expect(it: AsyncIterator<string>, what: string, who: string): Promise<string> {
  const next = await it.next();
  if (next.done || !next.value.startsWith(what))
    throw new Error(
      `baseline ${who}: expected "${what}", got ${next.done ? "its exit" : next.value}`,
    );
  return next.value;
}

/**
 * The baselines (bench/baseline-copy.ts) as a pair of processes started once, connected with the same
 * number of connections as the gateways; each round is timed from the sender's go to the receiver's
 * done, so neither process start nor connection setup counts.
 */
class Baseline {
  private constructor(
    private readonly sender: ChildProcess,
    private readonly receiver: ChildProcess,
    private readonly sent: AsyncIterator<string>,
    private readonly received: AsyncIterator<string>,
  ) {}

  static async start(
    encrypt: boolean,
    connections: number,
    profileDir?: string,
  ): Promise<Baseline> {
    const script = path.join(__dirname, "baseline-copy.js");
    // The key reaches the processes in their environment, never on a command line.
    const env = {
      ...process.env,
      SKYPLANE_BASELINE_KEY: encrypt ? crypto.randomBytes(32).toString("hex") : "",
    };
    const stdio = ["pipe", "pipe", "inherit"] as ("pipe" | "inherit")[];
    const prof = (name: string) => (profileDir ? cpuProfileArgs(profileDir, name) : []);
    const receiver = spawn(
      process.execPath,
      [...prof("baseline-receive"), script, "receive", String(connections)],
      { env, stdio },
    );
    const received = lines(receiver);
    const port = (await expect(received, "port ", "receiver")).split(" ")[1];
    const sender = spawn(
      process.execPath,
      [...prof("baseline-send"), script, "send", port, String(connections)],
      { env, stdio },
    );
    const sent = lines(sender);
    await expect(sent, "connected", "sender");
    return new Baseline(sender, receiver, sent, received);
  }

  /** One round: `input` (a file, or undefined: memory) into `out` (a file, or undefined). */
  async round(bytes: number, input?: string, out?: string): Promise<Round> {
    this.receiver.stdin?.write(`round ${out ?? "-"}\n`);
    await expect(this.received, "ready", "receiver");
    const pids = { send: this.sender.pid as number, receive: this.receiver.pid as number };
    const { result: seconds, cpu } = await cpuOf(pids, async () => {
      const start = process.hrtime.bigint();
      this.sender.stdin?.write(`go ${input ?? "-"} ${bytes}\n`);
      await expect(this.received, "done", "receiver");
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      await expect(this.sent, "sent", "sender");
      return s;
    });
    if (out) {
      if (fs.statSync(out).size !== bytes) throw new Error("baseline copy is incomplete");
      fs.rmSync(out);
    }
    return { mbps: bytes / MiB / seconds, cpu: perGiB(cpu, bytes) };
  }

  async stop(): Promise<void> {
    const exits = [this.sender, this.receiver].map(
      (c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r))),
    );
    this.sender.stdin?.end();
    this.receiver.stdin?.end();
    await Promise.all(exits);
  }
}

/** CPU seconds per GiB moved, rounded. */
function perGiB(cpu: Record<string, number>, bytes: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(cpu).map(([k, v]) => [k, Number(((v * GiB) / bytes).toFixed(2))]),
  );
}

/** Copies big.bin through a running dataplane; its rate, CPU and the gateways' peak RSS so far. */
async function ours(
  dp: LoopbackDataplane,
  bytes: number,
): Promise<Round & { rss: [number, number] }> {
  try {
    const plan = await new SkyplaneClient({ home: dp.home }).planCopy({
      src: "local://src/big.bin",
      dst: "local://dst/big.bin",
    });
    const pids = { source: dp.source.info.pid, dest: dp.dest.info.pid, runner: process.pid };
    const { result, cpu } = await cpuOf(pids, () =>
      runTransfer(
        plan,
        { sources: [dp.client], stores: { home: dp.home }, dstRegion: "local:west" },
        { ...DEFAULT_TRANSFER_OPTIONS, pollIntervalMs: 50 },
      ),
    );
    if (result.bytes !== bytes) throw new Error(`moved ${result.bytes} of ${bytes} bytes`);
    return {
      mbps: bytes / MiB / result.seconds,
      cpu: perGiB(cpu, bytes),
      rss: [peakRssMiB(dp.source.info.pid), peakRssMiB(dp.dest.info.pid)],
    };
  } finally {
    await dp.dst.delete("big.bin");
  }
}

/** The round with the best rate. */
function best(rounds: readonly Round[]): Round {
  return rounds.reduce((a, b) => (b.mbps > a.mbps ? b : a));
}

/** Profiles this process (the runner) from `start()` until `stop()` writes `dir/runner.cpuprofile`. */
class RunnerProfile {
  private readonly session = new inspector.Session();

  constructor(private readonly dir: string) {}

  private post(method: string): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.session.post(method, (err, result) => (err ? reject(err) : resolve(result))),
    );
  }

  async start(): Promise<void> {
    this.session.connect();
    await this.post("Profiler.enable");
    await this.post("Profiler.start");
  }

  async stop(): Promise<void> {
    const { profile } = (await this.post("Profiler.stop")) as { profile: unknown };
    this.session.disconnect();
    fs.mkdirSync(this.dir, { recursive: true });
    fs.writeFileSync(path.join(this.dir, "runner.cpuprofile"), JSON.stringify(profile));
  }
}

async function main(): Promise<void> {
  const gib = Number(process.env.SKYPLANE_BENCH_GIB ?? 2);
  const rounds = Number(process.env.SKYPLANE_BENCH_ROUNDS ?? 2);
  const parts = (process.env.SKYPLANE_BENCH_CONFIGS ?? "aes-256-gcm,plain,memory").split(",");
  const profileRoot = process.env.SKYPLANE_BENCH_CPU_PROF
    ? path.resolve(process.env.SKYPLANE_BENCH_CPU_PROF)
    : undefined;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-bench-"));
  const bytes = gib * GiB;
  const cpuStart = process.cpuUsage();
  try {
    const srcFile = path.join(homeLayout(home).buckets, "src", "big.bin");
    await writeObject(srcFile, bytes);
    for (const encrypt of [true, false]) {
      const config = encrypt ? "aes-256-gcm" : "plain";
      if (!parts.includes(config)) continue;
      const profileDir = profileRoot ? path.join(profileRoot, config) : undefined;
      const dp = await startDataplane({
        home,
        encrypt,
        compress: "none",
        connections: CONNECTIONS,
        cpuProfileDir: profileDir,
        main: process.env.SKYPLANE_BENCH_GATEWAY_MAIN,
      });
      const out = path.join(home, "baseline.out");
      const base = await Baseline.start(encrypt, CONNECTIONS, profileDir);
      const runnerProfile = profileDir ? new RunnerProfile(profileDir) : undefined;
      await runnerProfile?.start();
      try {
        const file = () => base.round(bytes, srcFile, out);
        const memory = () => base.round(bytes);
        // One warm-up run of each (connections, buffer pool, JIT, page cache), reported but not counted:
        // a dataplane moves many objects over its life, and the benchmark compares steady states.
        const warm = {
          ours: (await ours(dp, bytes)).mbps,
          file: (await file()).mbps,
          memory: (await memory()).mbps,
        };
        const seen: { ours: Round[]; file: Round[]; memory: Round[] } = {
          ours: [],
          file: [],
          memory: [],
        };
        for (let r = 0; r < rounds; r++) {
          // Alternate which goes first, so that neither always gets the warmer page cache.
          if (r % 2 === 0) seen.file.push(await file());
          seen.ours.push(await ours(dp, bytes));
          if (r % 2 === 1) seen.file.push(await file());
          seen.memory.push(await memory());
        }
        const top = { ours: best(seen.ours), file: best(seen.file), memory: best(seen.memory) };
        const bestMBps = top.ours.mbps;
        const fileBest = top.file.mbps;
        const memoryBest = top.memory.mbps;
        const r3 = (x: number) => Number(x.toFixed(3));
        console.log(
          JSON.stringify({
            bench: "relay",
            config,
            objectGiB: gib,
            partMiB: 64,
            connections: CONNECTIONS,
            throughputMBps: Math.round(bestMBps),
            baselineMBps: Math.round(fileBest),
            memoryBaselineMBps: Math.round(memoryBest),
            ratio: r3(bestMBps / fileBest),
            memoryRatio: r3(bestMBps / memoryBest),
            target: { ratio: 0.8, ...(encrypt ? { memoryRatio: 0.5 } : {}) },
            rounds: {
              ours: seen.ours.map((x) => Math.round(x.mbps)),
              baseline: seen.file.map((x) => Math.round(x.mbps)),
              memoryBaseline: seen.memory.map((x) => Math.round(x.mbps)),
            },
            warmup: {
              ours: Math.round(warm.ours),
              baseline: Math.round(warm.file),
              memoryBaseline: Math.round(warm.memory),
            },
            // CPU seconds per GiB of each process in the best round of each: what a busy machine's
            // wall-clock rates hide (every thread counts, the gateways' file and socket work too).
            cpuSecondsPerGiB: {
              ours: top.ours.cpu,
              baseline: top.file.cpu,
              memoryBaseline: top.memory.cpu,
            },
            load: os.loadavg().map((l) => Number(l.toFixed(2))),
            ...(profileDir ? { cpuProfiles: profileDir } : {}),
          }),
        );
      } finally {
        await runnerProfile?.stop();
        await Promise.all([dp.stop(), base.stop()]);
      }
    }
    if (!parts.includes("memory")) return;
    // Memory: a single 4 GiB object through the gateways; VmHWM is the peak resident set of each.
    fs.rmSync(srcFile);
    const big = 4 * GiB;
    await writeObject(srcFile, big);
    const dp = await startDataplane({
      home,
      encrypt: true,
      compress: "none",
      connections: CONNECTIONS,
    });
    let m: Round & { rss: [number, number] };
    try {
      m = await ours(dp, big);
    } finally {
      await dp.stop();
    }
    console.log(
      JSON.stringify({
        bench: "relay-memory",
        objectGiB: 4,
        throughputMBps: Math.round(m.mbps),
        sourcePeakRssMiB: m.rss[0],
        destPeakRssMiB: m.rss[1],
        limitMiB: 512,
        load: os.loadavg().map((l) => Number(l.toFixed(2))),
        runnerCpuSeconds: Number(
          ((process.cpuUsage(cpuStart).user + process.cpuUsage(cpuStart).system) / 1e6).toFixed(1),
        ),
      }),
    );
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
