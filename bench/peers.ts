import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { Storage } from "@google-cloud/storage";
import pLimit from "p-limit";
import { CLIENT_REGION, liveStartTime } from "../common";
import { routeStackName } from "../planner/topology";
import { emulatorRoot, startEmulators } from "../scripts/emulators";
import { EMULATED_REGIONS, GcsStore, listAll, ObjectStore, S3Store } from "../stores";
import * as wan from "./peers-net";

/*
 * npm run bench:peers — skyplane beside rclone (Debian's package; `npm run setup` installs it as root), on
 * the same storage emulators, the same data, timed the same way: the wall clock of the whole command, from
 * spawn to exit, for both (skyplane's `cp --json` also reports its transfer part). One JSON line per case:
 *
 *   small:  a folder of 10,000 × 4 KiB files → s3://             (rclone as is, and with --transfers 32)
 *   big:    one 1 GiB file → s3://
 *   bucket: s3:// → gs://, 16 × 32 MiB, bucket to bucket           (rclone streams through the client)
 *   wan:    s3:// → gs:// on the emulated WAN (root): each emulator in its region's namespace, the client's
 *           link 10× slower than the link between the regions; rclone carries every byte through the
 *           client, skyplane's gateways region to region.
 *
 * `ratio` is rclone's wall time over skyplane's (> 1: skyplane is faster), against the faster rclone
 * run (`transferRatio`, where printed, over skyplane's transfer part alone); `ceiling` is the emulator's own rate for the same work (a direct SDK upload in the same run), so
 * that a ratio near 1 can be read; `target` is the issue's, printed, never asserted (`met` says).
 *
 * SKYPLANE_PEERS_CASES picks cases (comma-separated, default all); SKYPLANE_PEERS_SMALL the small files'
 * count (10000), SKYPLANE_PEERS_BIG_MIB the big file (1024), SKYPLANE_PEERS_WAN_MIB the WAN case's data
 * (128) and SKYPLANE_PEERS_WAN_MBPS its inter-region link (160; the client's is a tenth).
 */

const MiB = 1 << 20;
const DIST = path.resolve(__dirname, "..");
const CLI = path.join(DIST, "cli", "main.js");
const r3 = (x: number) => Number(x.toPrecision(3));
const env = (name: string, dflt: number) => Number(process.env[name] ?? dflt);

/** The fields of a case measured in MB/s: our times and rates, rclone's, and the wall-clock ratio. */
function bandwidthLines(
  bytes: number,
  ours: { wallSeconds: number; transferSeconds: number },
  rclone: { wallSeconds: number; flags: string },
) {
  const mbps = (s: number) => r3(bytes / 1e6 / s);
  return {
    ours: {
      wallSeconds: r3(ours.wallSeconds),
      transferSeconds: r3(ours.transferSeconds),
      MBps: mbps(ours.wallSeconds),
      transferMBps: mbps(ours.transferSeconds),
    },
    rclone: [
      { flags: rclone.flags, wallSeconds: r3(rclone.wallSeconds), MBps: mbps(rclone.wallSeconds) },
    ],
    ratio: r3(rclone.wallSeconds / ours.wallSeconds),
  };
}

function line(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench: "peers", ...fields }));
}

/*
 * An interrupted run (SIGINT, SIGTERM) passes SIGTERM on to the commands under way (skyplane tears its
 * gateways down on it), stops the emulators and removes the namespaces it made, then exits; it leaves
 * its folder when a skyplane command may still need it for that teardown, and says so.
 */
const running = new Set<ChildProcess>();
const undo: (() => void)[] = [];
let workDir: string | undefined;

function interrupted(sig: NodeJS.Signals): void {
  process.stderr.write(`${sig}: stopping what bench:peers started\n`);
  const busy = running.size > 0;
  for (const c of running) c.kill("SIGTERM");
  for (const step of undo.reverse()) {
    try {
      step();
    } catch {
      // gone already
    }
  }
  if (workDir && !busy) fs.rmSync(workDir, { recursive: true, force: true });
  else if (workDir) process.stderr.write(`left ${workDir} for the commands' teardown\n`);
  process.exit(130);
}

/** Tracks `child` until it exits, for `interrupted`. */
function track<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

/** How long a command took, wall clock from spawn to exit, and what it printed on stdout. */
interface Timed {
  seconds: number;
  stdout: string;
}

/** Runs a command to its end; stderr goes to `log`. A non-zero exit throws with the log's tail. */
function timed(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; log: string }) {
  return new Promise<Timed>((resolve, reject) => {
    const log = fs.openSync(opts.log, "a", 0o600);
    const start = process.hrtime.bigint();
    const child = track(spawn(cmd, args, { env: opts.env, stdio: ["ignore", "pipe", log] }));
    fs.closeSync(log);
    let stdout = "";
    child.stdout?.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.once("error", reject);
    child.once("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) return resolve({ seconds, stdout });
      const tail = fs.readFileSync(opts.log, "utf8").slice(-2000);
      reject(new Error(`${path.basename(cmd)} ${args.join(" ")} exited with ${code}:\n${tail}`));
    });
  });
}

/** Where the emulators are and how to reach them. */
interface Endpoints {
  s3: string;
  gcs: string;
  /** The environment skyplane and the SDKs read (endpoints, emulator credentials). */
  env: Record<string, string>;
}

const EMULATOR_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: "skyplane-emulator",
  AWS_SECRET_ACCESS_KEY: "skyplane-emulator-secret",
  AWS_REGION: "us-east-1",
};

/** The two tools, each with what it needs to reach the endpoints. */
class Tools {
  readonly home: string;
  private readonly rcloneConfig: string;
  constructor(
    private readonly dir: string,
    readonly ep: Endpoints,
  ) {
    this.home = fs.mkdtempSync(path.join(dir, "home-"));
    // rclone reads its remotes from RCLONE_CONFIG_<NAME>_<OPTION>; the file stays empty (and private).
    this.rcloneConfig = path.join(dir, "rclone.conf");
    fs.writeFileSync(this.rcloneConfig, "", { mode: 0o600 });
  }

  /** `skyplane cp …  -y --json`: the wall clock and its own transfer seconds. */
  async ours(src: string, dst: string, recursive: boolean, extra: string[] = []) {
    const t = await timed(
      process.execPath,
      [CLI, "cp", src, dst, ...(recursive ? ["-r"] : []), "-y", "--json", ...extra],
      { env: this.oursEnv(), log: path.join(this.dir, "skyplane.log") },
    );
    const out = JSON.parse(t.stdout.trim().split("\n").pop() as string) as {
      objects: number;
      bytes: number;
      seconds: number;
      stack?: string;
      provision?: { how: string };
    };
    return {
      wallSeconds: t.seconds,
      transferSeconds: out.seconds,
      bytes: out.bytes,
      stack: out.stack,
      how: out.provision?.how,
    };
  }

  oursEnv(): NodeJS.ProcessEnv {
    return { ...process.env, ...this.ep.env, SKYPLANE_HOME: this.home };
  }

  /** `rclone copy|copyto SRC DST [flags]`: the wall clock. */
  async rclone(verb: "copy" | "copyto", src: string, dst: string, flags: string[] = []) {
    const t = await timed("rclone", [verb, src, dst, ...flags], {
      env: this.rcloneEnv(),
      log: path.join(this.dir, "rclone.log"),
    });
    return { wallSeconds: t.seconds, flags: flags.join(" ") || "defaults" };
  }

  /** Remotes `s3:` and `gcs:` at the emulators; no AWS_CA_BUNDLE (rclone refuses one on plain HTTP). */
  private rcloneEnv(): NodeJS.ProcessEnv {
    const base = { ...process.env };
    delete base.AWS_CA_BUNDLE;
    return {
      ...base,
      RCLONE_CONFIG: this.rcloneConfig,
      RCLONE_CONFIG_S3_TYPE: "s3",
      RCLONE_CONFIG_S3_PROVIDER: "Other",
      RCLONE_CONFIG_S3_ENDPOINT: this.ep.s3,
      RCLONE_CONFIG_S3_REGION: EMULATOR_CREDENTIALS.AWS_REGION,
      RCLONE_CONFIG_S3_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.AWS_ACCESS_KEY_ID,
      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      RCLONE_CONFIG_S3_FORCE_PATH_STYLE: "true",
      RCLONE_CONFIG_GCS_TYPE: "google cloud storage",
      RCLONE_CONFIG_GCS_ENDPOINT: `${this.ep.gcs}/storage/v1/`,
      RCLONE_CONFIG_GCS_ANONYMOUS: "true",
      RCLONE_CONFIG_GCS_PROJECT_NUMBER: "skyplane-emulator",
    };
  }

  s3(bucket: string): S3Store {
    return new S3Store(bucket, {}, this.ep.env);
  }

  gcs(bucket: string): GcsStore {
    return new GcsStore(bucket, {}, this.ep.env);
  }

  s3Client(): S3Client {
    return new S3Client({
      region: EMULATOR_CREDENTIALS.AWS_REGION,
      endpoint: this.ep.s3,
      forcePathStyle: true,
      credentials: {
        accessKeyId: EMULATOR_CREDENTIALS.AWS_ACCESS_KEY_ID,
        secretAccessKey: EMULATOR_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      },
    });
  }

  gcsClient(): Storage {
    // The Node client would take STORAGE_EMULATOR_HOST as its whole base URL: hide it while building.
    const saved = process.env.STORAGE_EMULATOR_HOST;
    delete process.env.STORAGE_EMULATOR_HOST;
    try {
      return new Storage({
        apiEndpoint: this.ep.gcs,
        projectId: "skyplane-emulator",
        retryOptions: { autoRetry: false },
      });
    } finally {
      if (saved !== undefined) process.env.STORAGE_EMULATOR_HOST = saved;
    }
  }
}

/** Fails unless `store` holds `objects` objects of `bytes` bytes under `prefix`; then deletes them. */
async function checkAndClear(store: ObjectStore, prefix: string, objects: number, bytes: number) {
  let n = 0;
  let b = 0;
  const keys: string[] = [];
  for await (const o of listAll(store, prefix)) {
    n++;
    b += o.size;
    keys.push(o.key);
  }
  if (n !== objects || b !== bytes)
    throw new Error(
      `${store.scheme}://${store.bucket}/${prefix} holds ${n} objects, ${b} bytes; expected ${objects}, ${bytes}`,
    );
  const limit = pLimit(16);
  await Promise.all(keys.map((k) => limit(() => store.delete(k))));
}

async function seconds<T>(fn: () => Promise<T>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The best (shortest) of the rclone runs. */
function fastest<T extends { wallSeconds: number }>(runs: T[]): T {
  return runs.reduce((a, b) => (b.wallSeconds < a.wallSeconds ? b : a));
}

/** Does this build's `skyplane cp` keep routes warm? */
function keepWarmOption(): boolean {
  const help = execFileSync(process.execPath, [CLI, "cp", "--help"], { encoding: "utf8" });
  return help.includes("--keep-warm");
}

async function smallCase(t: Tools, dir: string): Promise<void> {
  const count = env("SKYPLANE_PEERS_SMALL", 10_000);
  const size = 4096;
  const folder = path.join(dir, "small");
  fs.mkdirSync(folder);
  for (let i = 0; i < count; i++)
    fs.writeFileSync(path.join(folder, `f${String(i).padStart(6, "0")}`), crypto.randomBytes(size));
  const bytes = count * size;
  const names = fs.readdirSync(folder);
  for (const b of ["peers-small-sdk", "peers-small-ours", "peers-small-rclone"])
    await t.s3(b).createBucket("aws:us-east-1");

  // Ceiling: the same files read and PUT by the SDK, 32 at a time.
  const client = t.s3Client();
  const limit = pLimit(32);
  const sdk = await seconds(() =>
    Promise.all(
      names.map((n) =>
        limit(async () =>
          client.send(
            new PutObjectCommand({
              Bucket: "peers-small-sdk",
              Key: `small/${n}`,
              Body: await fs.promises.readFile(path.join(folder, n)),
            }),
          ),
        ),
      ),
    ),
  );
  client.destroy();

  const ours = await t.ours(folder, "s3://peers-small-ours/small/", true);
  await checkAndClear(t.s3("peers-small-ours"), "small/", count, bytes);
  const rclone = [];
  for (const flags of [[], ["--transfers", "32"]]) {
    rclone.push(await t.rclone("copy", folder, "s3:peers-small-rclone/small", flags));
    await checkAndClear(t.s3("peers-small-rclone"), "small/", count, bytes);
  }
  const best = fastest(rclone);

  let warm: Record<string, unknown>;
  if (keepWarmOption()) {
    const dst = "s3://peers-small-ours/warm/";
    // The route's stack, as the first run reports it (or as it is named, if that run failed). A route
    // on the client alone has none: its gateways start with each run (`provision.how` "children").
    let stack: string | undefined = routeStackName(CLIENT_REGION, [EMULATED_REGIONS.s3]);
    try {
      const primed = await t.ours(folder, dst, true, ["--keep-warm", "10m"]); // brings the route up
      stack = primed.how === "children" ? undefined : (primed.stack ?? stack);
      await checkAndClear(t.s3("peers-small-ours"), "warm/", count, bytes);
      const w = await t.ours(folder, dst, true, ["--keep-warm", "10m"]);
      await checkAndClear(t.s3("peers-small-ours"), "warm/", count, bytes);
      warm = {
        how: w.how,
        wallSeconds: r3(w.wallSeconds),
        transferSeconds: r3(w.transferSeconds),
        ratio: r3(best.wallSeconds / w.wallSeconds),
        target: { ratio: r3(1 / 0.3), as: "wall ≤ 0.3× rclone's with a warm route" },
        met: best.wallSeconds / w.wallSeconds >= 1 / 0.3,
      };
    } finally {
      if (stack)
        await timed(process.execPath, [CLI, "deprovision", "-y", stack], {
          env: t.oursEnv(),
          log: path.join(dir, "skyplane.log"),
        });
    }
  } else {
    warm = { skipped: "this build's `skyplane cp` has no --keep-warm (issue 13, item 3)" };
  }
  line({
    work: `folder → s3://, ${count} × 4 KiB`,
    objects: count,
    bytes,
    ours: {
      wallSeconds: r3(ours.wallSeconds),
      transferSeconds: r3(ours.transferSeconds),
      objectsPerSecond: r3(count / ours.wallSeconds),
    },
    rclone: rclone.map((r) => ({ flags: r.flags, wallSeconds: r3(r.wallSeconds) })),
    ratio: r3(best.wallSeconds / ours.wallSeconds),
    ceiling: {
      seconds: r3(sdk),
      objectsPerSecond: r3(count / sdk),
      how: "SDK PutObject, 32 at once",
    },
    target: { ratio: r3(1 / 0.7), as: "wall ≤ 0.7× rclone's (cold)" },
    met: best.wallSeconds / ours.wallSeconds >= 1 / 0.7,
    warm,
  });
}

async function bigCase(t: Tools, dir: string): Promise<void> {
  const bytes = env("SKYPLANE_PEERS_BIG_MIB", 1024) * MiB;
  const file = path.join(dir, "big", "big.bin");
  fs.mkdirSync(path.dirname(file));
  const block = crypto.randomBytes(64 * MiB);
  const fd = fs.openSync(file, "w");
  for (let at = 0; at < bytes; at += block.length)
    fs.writeSync(fd, block, 0, Math.min(block.length, bytes - at));
  fs.closeSync(fd);
  for (const b of ["peers-big-sdk", "peers-big-ours", "peers-big-rclone"])
    await t.s3(b).createBucket("aws:us-east-1");

  // Ceiling: the SDK's own multipart upload of the file, with rclone's default shape of parts (5 MiB, 4
  // at once) and with large ones; the faster counts.
  const client = t.s3Client();
  const shapes = [
    { partMiB: 5, queue: 4 },
    { partMiB: 64, queue: 4 },
  ];
  const tried: { partMiB: number; queue: number; seconds: number }[] = [];
  for (const shape of shapes) {
    const took = await seconds(() =>
      new Upload({
        client,
        params: { Bucket: "peers-big-sdk", Key: "big.bin", Body: fs.createReadStream(file) },
        partSize: shape.partMiB * MiB,
        queueSize: shape.queue,
      }).done(),
    );
    tried.push({ ...shape, seconds: r3(took) });
    await checkAndClear(t.s3("peers-big-sdk"), "", 1, bytes);
  }
  client.destroy();
  const sdk = Math.min(...tried.map((x) => x.seconds));

  const ours = await t.ours(file, "s3://peers-big-ours/big.bin", false);
  await checkAndClear(t.s3("peers-big-ours"), "", 1, bytes);
  const rclone = await t.rclone("copyto", file, "s3:peers-big-rclone/big.bin");
  await checkAndClear(t.s3("peers-big-rclone"), "", 1, bytes);
  line({
    work: `file → s3://, ${bytes / MiB} MiB`,
    objects: 1,
    bytes,
    ...bandwidthLines(bytes, ours, rclone),
    transferRatio: r3(rclone.wallSeconds / ours.transferSeconds),
    ceiling: {
      seconds: r3(sdk),
      MBps: r3(bytes / 1e6 / sdk),
      how: "SDK multipart upload (lib-storage), the faster of two part shapes",
      tried,
    },
    ofCeiling: r3(sdk / ours.wallSeconds),
    target: {
      ratio: 1,
      orOfCeiling: 0.9,
      as: "throughput ≥ 1.0× rclone's, or ≥ 0.9 of the emulator's ceiling",
    },
    met: rclone.wallSeconds / ours.wallSeconds >= 1 || sdk / ours.wallSeconds >= 0.9,
  });
}

/** Puts `count` objects of `size` random bytes under `prefix` with the SDK; returns the seconds. */
async function seedS3(t: Tools, bucket: string, prefix: string, count: number, size: number) {
  const client = t.s3Client();
  const block = crypto.randomBytes(size);
  const limit = pLimit(4);
  try {
    return await seconds(() =>
      Promise.all(
        [...Array(count).keys()].map((i) =>
          limit(() =>
            client.send(
              new PutObjectCommand({
                Bucket: bucket,
                Key: `${prefix}${String(i).padStart(4, "0")}`,
                // Each object differs (its index in the first bytes), so none is a copy of another.
                Body: Buffer.concat([Buffer.from(String(i).padStart(8, "0")), block.subarray(8)]),
              }),
            ),
          ),
        ),
      ),
    );
  } finally {
    client.destroy();
  }
}

/** The emulators' own rates for `count` × `size`: GETs from S3 and uploads to GCS, 4 at once. */
async function bucketCeiling(t: Tools, src: string, prefix: string, count: number, size: number) {
  const s3 = t.s3Client();
  const limit = pLimit(4);
  const read = await seconds(() =>
    Promise.all(
      [...Array(count).keys()].map((i) =>
        limit(async () => {
          const r = await s3.send(
            new GetObjectCommand({ Bucket: src, Key: `${prefix}${String(i).padStart(4, "0")}` }),
          );
          for await (const _ of r.Body as AsyncIterable<Buffer>); // drain
        }),
      ),
    ),
  );
  s3.destroy();
  await t.gcs("peers-gcs-sdk").createBucket("gcp:us-central1");
  const bucket = t.gcsClient().bucket("peers-gcs-sdk");
  const block = crypto.randomBytes(size);
  const write = await seconds(() =>
    Promise.all(
      [...Array(count).keys()].map((i) =>
        limit(() => bucket.file(`sdk/${i}`).save(block, { resumable: false, validation: false })),
      ),
    ),
  );
  await checkAndClear(t.gcs("peers-gcs-sdk"), "sdk/", count, count * size);
  const bytes = count * size;
  return {
    seconds: r3(Math.max(read, write)),
    MBps: r3(bytes / 1e6 / Math.max(read, write)),
    s3ReadMBps: r3(bytes / 1e6 / read),
    gcsWriteMBps: r3(bytes / 1e6 / write),
    how: "SDK GETs from S3 and uploads to GCS, 4 at once; the slower of the two",
  };
}

async function bucketCase(t: Tools): Promise<void> {
  const count = 16;
  const size = 32 * MiB;
  const bytes = count * size;
  await t.s3("peers-src").createBucket("aws:us-east-1");
  for (const b of ["peers-ours", "peers-rclone"]) await t.gcs(b).createBucket("gcp:us-central1");
  await seedS3(t, "peers-src", "data/", count, size);
  const ceiling = await bucketCeiling(t, "peers-src", "data/", count, size);
  const ours = await t.ours("s3://peers-src/data/", "gs://peers-ours/data/", true);
  await checkAndClear(t.gcs("peers-ours"), "data/", count, bytes);
  const rclone = await t.rclone("copy", "s3:peers-src/data", "gcs:peers-rclone/data");
  await checkAndClear(t.gcs("peers-rclone"), "data/", count, bytes);
  line({
    work: `s3:// → gs://, ${count} × ${size / MiB} MiB`,
    objects: count,
    bytes,
    ...bandwidthLines(bytes, ours, rclone),
    ceiling,
    target: null,
    note: "the issue sets no target for bucket to bucket on loopback: the WAN case is where it counts",
  });
}

function waitForPort(host: string, port: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, host);
      s.once("connect", () => (s.destroy(), resolve()));
      s.once("error", () => {
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${host}:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Starts `cmd` in namespace `ns` and waits until it listens on host:port. */
async function startIn(ns: string, cmd: string[], host: string, port: number, log: string) {
  const fd = fs.openSync(log, "a", 0o600);
  const [exe, ...args] = wan.inNamespace(ns, cmd);
  const child = spawn(exe, args, { stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  await new Promise<void>((r, j) => (child.once("spawn", r), child.once("error", j)));
  await waitForPort(host, port);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

/** Skyplane's side of the WAN case: the driver, paused while the storage is wired to the routers. */
async function oursOnWan(t: Tools, dir: string, src: string, dst: string, profile: object) {
  const profileFile = path.join(dir, "wan-profile.json");
  fs.writeFileSync(profileFile, JSON.stringify(profile));
  const log = fs.openSync(path.join(dir, "skyplane-wan.log"), "a", 0o600);
  const start = process.hrtime.bigint();
  const child = track(
    spawn(process.execPath, [path.join(__dirname, "peers-wan-ours.js"), src, dst, profileFile], {
      env: t.oursEnv(),
      stdio: ["pipe", "pipe", log],
    }),
  );
  fs.closeSync(log);
  const exited = new Promise<number | null>((r) => child.once("close", r));
  let paused = 0;
  let done: { seconds: number; bytes: number } | undefined;
  for await (const l of readline.createInterface({
    input: child.stdout as NodeJS.ReadableStream,
  })) {
    const msg = JSON.parse(l) as { event: string; stack: string; seconds: number; bytes: number };
    if (msg.event === "provisioned") {
      paused = await seconds(async () => wan.up(wan.wiringPlan(msg.stack, 2)));
      child.stdin?.end("go\n");
    } else if (msg.event === "done") done = msg;
  }
  const code = await exited;
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (code !== 0 || !done)
    throw new Error(
      `skyplane on the WAN exited with ${code}:\n${fs.readFileSync(path.join(dir, "skyplane-wan.log"), "utf8").slice(-2000)}`,
    );
  return { wallSeconds: wall - paused, transferSeconds: done.seconds, wiringSeconds: paused };
}

async function wanCase(dir: string): Promise<void> {
  const work = "s3:// → gs:// on the emulated WAN";
  if (process.getuid?.() !== 0)
    return line({ work, skipped: "needs root: network namespaces and tc shape the links" });
  const linkMbps = env("SKYPLANE_PEERS_WAN_MBPS", 160);
  const clientMbps = linkMbps / 10;
  const size = 32 * MiB;
  const count = Math.max(1, Math.round((env("SKYPLANE_PEERS_WAN_MIB", 128) * MiB) / size));
  const bytes = count * size;
  const storage = wan.storagePlan(2);
  wan.down(storage); // what a run that was killed left behind
  wan.up(storage);
  const children: ChildProcess[] = [];
  undo.push(() => wan.down(storage));
  undo.push(() => children.forEach((c) => c.kill("SIGTERM")));
  try {
    const root = emulatorRoot();
    const [s3Host, gcsHost] = [wan.storageAddress(0), wan.storageAddress(1)];
    children.push(
      await startIn(
        wan.storageNamespace(0),
        [path.join(root, "bin", "gofakes3"), "-backend", "memory", "-host", `${s3Host}:9000`],
        s3Host,
        9000,
        path.join(dir, "wan-gofakes3.log"),
      ),
    );
    children.push(
      await startIn(
        wan.storageNamespace(1),
        [
          path.join(root, "bin", "fake-gcs-server"),
          ...["-scheme", "http", "-host", gcsHost, "-port", "4443", "-backend", "memory"],
          ...["-public-host", `${gcsHost}:4443`],
        ],
        gcsHost,
        4443,
        path.join(dir, "wan-fake-gcs.log"),
      ),
    );
    const ep: Endpoints = {
      s3: `http://${s3Host}:9000`,
      gcs: `http://${gcsHost}:4443`,
      env: {
        ...EMULATOR_CREDENTIALS,
        AWS_ENDPOINT_URL_S3: `http://${s3Host}:9000`,
        STORAGE_EMULATOR_HOST: `http://${gcsHost}:4443`,
      },
    };
    const t = new Tools(dir, ep);
    await t.s3("peers-wan-src").createBucket("aws:us-east-1");
    for (const b of ["peers-wan-ours", "peers-wan-rclone"])
      await t.gcs(b).createBucket("gcp:us-central1");
    // Seeded, and the emulators' ceiling measured, before the client's links are shaped.
    await seedS3(t, "peers-wan-src", "data/", count, size);
    const ceiling = await bucketCeiling(t, "peers-wan-src", "data/", count, size);
    wan.shape(storage, clientMbps);
    const profile = {
      version: 1,
      description: `bench:peers: two regions ${linkMbps} Mbit/s apart`,
      regions: ["local:east", "local:west"],
      links: { "local:east>local:west": linkMbps, "local:west>local:east": linkMbps },
      gateway: { egressMbps: 2 * linkMbps, ingressMbps: 2 * linkMbps },
    };
    const ours = await oursOnWan(
      t,
      dir,
      "s3://peers-wan-src/data/",
      "gs://peers-wan-ours/data/",
      profile,
    );
    await checkAndClear(t.gcs("peers-wan-ours"), "data/", count, bytes);
    const rclone = await t.rclone("copy", "s3:peers-wan-src/data", "gcs:peers-wan-rclone/data");
    await checkAndClear(t.gcs("peers-wan-rclone"), "data/", count, bytes);
    const mbit = (s: number) => r3((bytes * 8) / 1e6 / s);
    line({
      work,
      objects: count,
      bytes,
      linkMbps,
      clientMbps,
      ours: {
        wallSeconds: r3(ours.wallSeconds),
        transferSeconds: r3(ours.transferSeconds),
        transferMbps: mbit(ours.transferSeconds),
        wiringSecondsExcluded: r3(ours.wiringSeconds),
      },
      rclone: [
        {
          flags: rclone.flags,
          wallSeconds: r3(rclone.wallSeconds),
          Mbps: mbit(rclone.wallSeconds),
        },
      ],
      ratio: r3(rclone.wallSeconds / ours.wallSeconds),
      ceiling: { ...ceiling, note: "measured before the client's links were shaped" },
      target: { ratio: 3, as: "≥ 3× rclone" },
      met: rclone.wallSeconds / ours.wallSeconds >= 3,
    });
  } finally {
    for (const c of children) await stopChild(c);
    wan.down(storage);
  }
}

const CASES: Record<string, (t: Tools, dir: string) => Promise<void>> = {
  small: smallCase,
  big: bigCase,
  bucket: (t) => bucketCase(t),
};

async function main(): Promise<void> {
  const wanted = (process.env.SKYPLANE_PEERS_CASES ?? "small,big,bucket,wan").split(",");
  for (const w of wanted)
    if (!(w in CASES) && w !== "wan")
      throw new Error(`SKYPLANE_PEERS_CASES: no case ${w} (small, big, bucket, wan)`);
  try {
    execFileSync("rclone", ["version"], { stdio: "ignore" });
  } catch {
    for (const w of wanted)
      line({
        work: w,
        skipped: "rclone is not installed: npm run setup (as root) installs Debian's",
      });
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-peers-"));
  workDir = dir;
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const loopback = wanted.filter((w) => w !== "wan");
    if (loopback.length) {
      const emulators = await startEmulators(path.join(dir, "emulators"));
      undo.push(() =>
        emulators.processes.forEach(
          (p) => liveStartTime(p.pid) === p.startTime && process.kill(p.pid, "SIGTERM"),
        ),
      );
      try {
        const e = emulators.env;
        const t = new Tools(dir, {
          s3: e.AWS_ENDPOINT_URL_S3,
          gcs: e.STORAGE_EMULATOR_HOST,
          env: {
            ...EMULATOR_CREDENTIALS,
            AWS_ENDPOINT_URL_S3: e.AWS_ENDPOINT_URL_S3,
            STORAGE_EMULATOR_HOST: e.STORAGE_EMULATOR_HOST,
          },
        });
        for (const w of loopback) await CASES[w](t, dir);
      } finally {
        await emulators.stop();
      }
    }
    if (wanted.includes("wan")) await wanCase(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
