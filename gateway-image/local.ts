import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { GatewayProgram } from "../planner/program";
import { SkyplaneError } from "../errors";

/** The daemon's entry point in the compiled package. */
export const DAEMON_MAIN = path.join(__dirname, "daemon", "main.js");

/** What a gateway reports once it listens. */
export interface GatewayInfo {
  readonly pid: number;
  readonly gatewayId: string;
  readonly controlPort: number;
  readonly dataPort: number | null;
}

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
}

/** The environment of a gateway daemon: where buckets live and the dataplane's secrets. */
export function gatewayEnv(
  home: string,
  token: string,
  key?: string,
  program?: string,
): Record<string, string> {
  return {
    SKYPLANE_HOME: home,
    SKYPLANE_GATEWAY_TOKEN: token,
    ...(key ? { SKYPLANE_GATEWAY_KEY: key } : {}),
    ...(program ? { SKYPLANE_GATEWAY_PROGRAM: program } : {}),
  };
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

/** Where and how long a gateway daemon runs. */
export interface GatewayCommandOptions {
  /** Fixed control port, or 0 for any. */
  readonly controlPort?: number;
  /** Fixed data port, or 0 for any. */
  readonly dataPort?: number;
  /** Address both servers bind; default 127.0.0.1. */
  readonly host?: string;
  /** Epoch ms at which the daemon exits on its own. */
  readonly expireAt?: number;
  /** Minutes from its start after which the daemon exits on its own. */
  readonly ttlMinutes?: number;
  /** Seconds of silence from its client after which the daemon exits on its own (not before expireAt). */
  readonly leaseSeconds?: number;
  /** Extra daemon flags, e.g. ["--dead-peer-ms", "2000"]. */
  readonly extraArgs?: string[];
}

/**
 * The daemon's command line: what a process manager or a VM's boot script runs. The program comes from
 * `programFile`, or when that is undefined from SKYPLANE_GATEWAY_PROGRAM in the environment.
 */
export function gatewayCommand(
  programFile: string | undefined,
  infoFile: string,
  opts: GatewayCommandOptions = {},
): string[] {
  const host = opts.host ?? "127.0.0.1";
  return [
    process.execPath,
    DAEMON_MAIN,
    ...(programFile ? ["--program", programFile] : []),
    "--info-file",
    infoFile,
    "--control-host",
    host,
    "--control-port",
    String(opts.controlPort ?? 0),
    "--data-host",
    host,
    "--data-port",
    String(opts.dataPort ?? 0),
    ...(opts.expireAt !== undefined ? ["--expire-at", String(opts.expireAt)] : []),
    ...(opts.ttlMinutes !== undefined ? ["--ttl-minutes", String(opts.ttlMinutes)] : []),
    ...(opts.leaseSeconds !== undefined ? ["--lease-seconds", String(opts.leaseSeconds)] : []),
    ...(opts.extraArgs ?? []),
  ];
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
  const [cmd, ...args] = gatewayCommand(programFile, infoFile, opts);
  // Node flags for the daemon, e.g. SKYPLANE_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  args.unshift(...(process.env.SKYPLANE_GATEWAY_NODE_ARGS?.split(" ").filter(Boolean) ?? []));
  const log = fs.openSync(logFile, "a", 0o600);
  const child = spawn(cmd, args, {
    stdio: ["ignore", "ignore", log],
    env: {
      PATH: process.env.PATH,
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
        new SkyplaneError(
          "PROCESS_FAILED",
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
