import * as path from "node:path";

/*
 * How a gateway daemon (daemon/main.ts) is launched on a machine: its command line, its environment
 * (secrets travel there, never in argv), and the record it writes once it listens. The local cloud's
 * LocalGateway (components/local/gateway.ts) runs it so as a process of the Pulumi engine; a process
 * manager or a test harness can run it the same way.
 */

/** The daemon's entry point in the compiled package. */
export const DAEMON_MAIN = path.join(__dirname, "daemon", "main.js");

/** What a gateway writes to its --info-file (and prints as one JSON line) once it listens. */
export interface GatewayInfo {
  /** The daemon's process id. */
  readonly pid: number;
  /** Its gateway id, from its program. */
  readonly gatewayId: string;
  /** Port of its control API. */
  readonly controlPort: number;
  /** Port of its data server; null when its program receives nothing. */
  readonly dataPort: number | null;
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
 * `programFile`, or when that is undefined from SKYPLANE_GATEWAY_PROGRAM in the environment. Without
 * `infoFile` it says where it listens on stdout alone.
 */
export function gatewayCommand(
  programFile: string | undefined,
  infoFile: string | undefined,
  opts: GatewayCommandOptions = {},
): string[] {
  const host = opts.host ?? "127.0.0.1";
  return [
    process.execPath,
    DAEMON_MAIN,
    ...(programFile ? ["--program", programFile] : []),
    ...(infoFile !== undefined ? ["--info-file", infoFile] : []),
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
