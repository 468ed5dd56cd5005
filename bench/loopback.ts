import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gatewayCommand, gatewayEnv, GatewayInfo } from "../gateway-image/launch";
import { Compression, GATEWAY_PROGRAM_VERSION, GatewayProgram } from "../planner/program";
import { GatewayClient } from "../runner/gateway-client";
import { LocalStore, localBucketRoot } from "../stores";

/*
 * Gateways on loopback without Pulumi: daemons started as child processes of this one, each with a
 * program of its own. The benches measure the data path with it, and the gateway and transfer tests
 * drive it (test/ may import bench/, never the other way round).
 */

/** How to start a gateway on this machine. */
export interface LocalGatewayOptions {
  /** Its program. */
  readonly program: GatewayProgram;
  /** Folder for its program file and log. */
  readonly dir: string;
  /** The dataplane token. */
  readonly token: string;
  /** The dataplane key (32 bytes). */
  readonly key?: Buffer;
  /** The skyplane home (where local buckets live). */
  readonly home: string;
  /** Fixed ports, or 0 for any. */
  readonly controlPort?: number;
  /** Data port, or 0 for any. */
  readonly dataPort?: number;
  /** Extra daemon flags, e.g. ["--dead-peer-ms", "2000"]. */
  readonly extraArgs?: string[];
  /** More environment for the daemon, e.g. a store's endpoint and credentials. */
  readonly env?: Record<string, string>;
  /** The daemon's entry script, e.g. an unpacked gateway bundle's main.js (run from its folder); default the compiled daemon. */
  readonly main?: string;
  /** Node flags for this daemon (after SKYPLANE_GATEWAY_NODE_ARGS), e.g. ["--cpu-prof"]. */
  readonly nodeArgs?: readonly string[];
}

/** Node flags that write a CPU profile of a process to `dir/<name>.cpuprofile` when it exits. */
export function cpuProfileArgs(dir: string, name: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`];
}

/** A running gateway process started by `startLocalGateway`. */
export interface LocalGateway {
  /** What it reported. */
  readonly info: GatewayInfo;
  /** The process. */
  readonly process: ChildProcess;
  /** Its log file (stderr). */
  readonly logFile: string;
  /** Stops it (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts a gateway daemon as a child process and waits until it listens. */
export async function startLocalGateway(opts: LocalGatewayOptions): Promise<LocalGateway> {
  fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const id = opts.program.gatewayId;
  const programFile = path.join(opts.dir, `${id}.program.json`);
  const infoFile = path.join(opts.dir, `${id}.info.json`);
  const logFile = path.join(opts.dir, `${id}.log`);
  fs.writeFileSync(programFile, JSON.stringify(opts.program, null, 2), { mode: 0o600 });
  fs.rmSync(infoFile, { force: true });
  const [cmd, daemon, ...args] = gatewayCommand(programFile, infoFile, opts);
  args.unshift(opts.main ?? daemon);
  args.unshift(...(opts.nodeArgs ?? []));
  // Node flags for the daemon, e.g. SKYPLANE_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  args.unshift(...(process.env.SKYPLANE_GATEWAY_NODE_ARGS?.split(" ").filter(Boolean) ?? []));
  const log = fs.openSync(logFile, "a", 0o600);
  const child = spawn(cmd, args, {
    stdio: ["ignore", "ignore", log],
    ...(opts.main ? { cwd: path.dirname(opts.main) } : {}),
    env: {
      PATH: process.env.PATH,
      ...opts.env,
      ...gatewayEnv(opts.home, opts.token, opts.key?.toString("base64")),
    },
  });
  fs.closeSync(log);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  const info = await new Promise<GatewayInfo>((resolve, reject) => {
    const watcher = setInterval(() => {
      if (fs.existsSync(infoFile)) {
        clearInterval(watcher);
        resolve(JSON.parse(fs.readFileSync(infoFile, "utf8")));
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(watcher);
      reject(
        new Error(
          `gateway ${id} exited with ${code} before listening; see ${logFile}:\n${fs.readFileSync(logFile, "utf8").slice(-2000)}`,
        ),
      );
    });
  });
  return {
    info,
    process: child,
    logFile,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A source and a destination gateway on loopback between two local buckets, for tests and benches. */
export interface LoopbackDataplane {
  readonly home: string;
  readonly token: string;
  readonly src: LocalStore;
  readonly dst: LocalStore;
  readonly source: LocalGateway;
  readonly dest: LocalGateway;
  readonly client: GatewayClient;
  stop(): Promise<void>;
}

/** Options of `startDataplane`. */
export interface LoopbackOptions {
  readonly connections?: number;
  readonly compress?: Compression;
  readonly encrypt?: boolean;
  readonly home?: string;
  readonly sourceArgs?: string[];
  readonly destArgs?: string[];
  /** A module the destination gateway loads first (`node --require`), e.g. a store wrapper. */
  readonly wrapDestination?: string;
  /** The bucket the destination gateway writes (a bucket URI); default local://dst, made here. */
  readonly destination?: string;
  /** More environment for both gateways (a destination store's endpoint and credentials). */
  readonly env?: Record<string, string>;
  /** Both daemons' entry script (LocalGatewayOptions.main); default the compiled daemon. */
  readonly main?: string;
  /** Write each gateway's CPU profile into this folder when it stops (`east-0.cpuprofile`, `west-0.cpuprofile`). */
  readonly cpuProfileDir?: string;
}

/** The program of gateway east-0: read local://src, send to west-0 at `port` on loopback. */
export function sourceProgram(
  port: number,
  opts: { connections?: number; compress?: Compression; encrypt?: boolean } = {},
): GatewayProgram {
  return {
    version: GATEWAY_PROGRAM_VERSION,
    gatewayId: "east-0",
    region: "local:east",
    operators: [
      {
        op: "read_object_store",
        bucket: "local://src",
        next: {
          op: "send",
          target: { gatewayId: "west-0", host: "127.0.0.1", port },
          connections: opts.connections ?? 4,
          compress: opts.compress ?? "none",
          encrypt: opts.encrypt ?? true,
        },
      },
    ],
  };
}

/** Creates buckets `src` (local:east) and `dst` (local:west), or reuses them in `home`, and starts a gateway for each. */
export async function startDataplane(opts: LoopbackOptions = {}): Promise<LoopbackDataplane> {
  const home = opts.home ?? fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-dp-"));
  const token = crypto.randomBytes(24).toString("base64url");
  const key = crypto.randomBytes(32);
  const ctx = { home };
  const src = await LocalStore.createBucket("src", localBucketRoot(ctx, "src"), "local:east");
  const dst = await LocalStore.createBucket("dst", localBucketRoot(ctx, "dst"), "local:west");
  const dir = path.join(home, "gateways");
  const destProgram: GatewayProgram = {
    version: GATEWAY_PROGRAM_VERSION,
    gatewayId: "west-0",
    region: "local:west",
    operators: [
      {
        op: "receive",
        encrypted: opts.encrypt ?? true,
        next: { op: "write_object_store", bucket: opts.destination ?? "local://dst" },
      },
    ],
  };
  const nodeArgs = process.env.SKYPLANE_GATEWAY_NODE_ARGS;
  if (opts.wrapDestination)
    process.env.SKYPLANE_GATEWAY_NODE_ARGS = `${nodeArgs ?? ""} --require ${opts.wrapDestination}`;
  const dest = await startLocalGateway({
    program: destProgram,
    dir,
    token,
    key,
    home,
    extraArgs: opts.destArgs,
    env: opts.env,
    main: opts.main,
    nodeArgs: opts.cpuProfileDir ? cpuProfileArgs(opts.cpuProfileDir, "west-0") : undefined,
  }).finally(() => {
    if (nodeArgs === undefined) delete process.env.SKYPLANE_GATEWAY_NODE_ARGS;
    else process.env.SKYPLANE_GATEWAY_NODE_ARGS = nodeArgs;
  });
  const source = await startLocalGateway({
    program: sourceProgram(dest.info.dataPort as number, opts),
    dir,
    token,
    key,
    home,
    extraArgs: opts.sourceArgs,
    env: opts.env,
    main: opts.main,
    nodeArgs: opts.cpuProfileDir ? cpuProfileArgs(opts.cpuProfileDir, "east-0") : undefined,
  });
  const client = new GatewayClient(
    { gatewayId: "east-0", host: "127.0.0.1", controlPort: source.info.controlPort },
    token,
  );
  return {
    home,
    token,
    src,
    dst,
    source,
    dest,
    client,
    stop: async () => {
      await Promise.all([source.stop(), dest.stop()]);
      if (!opts.home) fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
