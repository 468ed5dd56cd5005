import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import type { Socket } from "node:net";
import * as path from "node:path";
import { gatewayCommand, gatewayEnv, GatewayInfo } from "../gateway-image/launch";
import { BucketGrants, bindProgram, sendTargets } from "../planner/program";
import { emulatedNetwork, NetworkProfile } from "../planner/profile";
import {
  grantTopology,
  ProvisionedGateway,
  provisioningOrder,
  Topology,
} from "../planner/topology";
import { storeEnv } from "../stores/core";
import { CLIENT_REGION } from "../common/regions";
import { SkyplaneError } from "../errors";
import { redact } from "./engine";
import { logTail, storeSecrets } from "./provision";

/*
 * A route on this machine alone (every gateway in `local:client`: a folder and a cloud bucket, or two
 * folders) makes nothing in any cloud, so it needs no stack: its gateways run as children of this
 * process, started in a fraction of an engine's `up` and `destroy`. Each one's stdin is a pipe from this
 * process (the daemon's --exit-with-stdin): when this process ends, however it ends (SIGKILL included),
 * the kernel closes the pipe and the gateway stops, so nothing outlives its client. Their secrets reach
 * them in their environment, as the local cloud's, never in argv.
 */

/** Milliseconds a child gateway has to say it listens. */
const READY_TIMEOUT_MS = 30_000;

/** Milliseconds between SIGTERM and SIGKILL when stopping one. */
const STOP_GRACE_MS = 5000;

/**
 * True when `topology` runs as this process's children: every gateway in the client's region, and no
 * emulated WAN that places the client in a network namespace of its own (the engine makes those).
 */
export function runsAsChildren(topology: Topology, network?: NetworkProfile): boolean {
  const placed = !!network && network.regions.includes(CLIENT_REGION) && emulatedNetwork(network);
  return (
    !placed &&
    topology.gateways.length > 0 &&
    topology.gateways.every((g) => g.region === CLIENT_REGION && g.provider === "local")
  );
}

/** What starting a route's child gateways needs. */
export interface ChildGatewaysOptions {
  /** The route's topology (`runsAsChildren`). */
  readonly topology: Topology;
  /** The buckets they may touch. */
  readonly grants: BucketGrants;
  /** The skyplane home. */
  readonly home: string;
  /** Where gateway logs go: `<logDir>/<route>/<gateway>.log`. */
  readonly logDir: string;
  /** The route's name (its stack's name, were it on a cloud). */
  readonly route: string;
  /** Environment of the stores (endpoints, credentials); default the process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Seconds of silence from this client after which a gateway ends itself. */
  readonly leaseSeconds: number;
  /** Minutes after which a gateway ends itself, busy or not. */
  readonly ttlMinutes?: number;
}

/** A route's gateways, running as children of this process. */
export class ChildGateways {
  private constructor(
    /** How the runner reaches them. */
    readonly gateways: ProvisionedGateway[],
    /** Their token (new for each start). */
    readonly token: string,
    private readonly children: ChildProcess[],
  ) {}

  /** Starts every gateway of the topology, receivers first; on failure stops those started. */
  static async start(o: ChildGatewaysOptions): Promise<ChildGateways> {
    const token = crypto.randomBytes(32).toString("base64url");
    const key = crypto.randomBytes(32).toString("base64");
    const stores = storeEnv(o.env);
    const secrets = [token, key, ...storeSecrets(stores)];
    const children: ChildProcess[] = [];
    const gateways = new Map<string, ProvisionedGateway>();
    try {
      for (const spec of provisioningOrder(grantTopology(o.topology, o.grants))) {
        const addresses = Object.fromEntries(
          sendTargets(spec.program).map((t) => {
            const g = gateways.get(t) as ProvisionedGateway;
            return [t, { host: g.host, port: g.dataPort }];
          }),
        );
        const logFile = path.join(o.logDir, o.route, `${spec.id}.log`);
        const env = {
          PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
          HOME: process.env.HOME ?? "/",
          ...stores,
          ...gatewayEnv(o.home, token, key, JSON.stringify(bindProgram(spec.program, addresses))),
        };
        const command = gatewayCommand(undefined, undefined, {
          ttlMinutes: o.ttlMinutes,
          leaseSeconds: o.leaseSeconds,
          extraArgs: ["--exit-with-stdin"],
        });
        const child = spawnLogged(command, env, logFile);
        children.push(child);
        let info: GatewayInfo;
        try {
          info = await readyInfo(child, READY_TIMEOUT_MS);
        } catch (err) {
          const tail = logTail(logFile);
          throw new SkyplaneError(
            "PROVISION_FAILED",
            `gateway ${spec.id} on this machine ${(err as Error).message}` +
              (tail ? `; the end of its log (${logFile}):\n${redact(tail, secrets)}` : ""),
          );
        }
        gateways.set(spec.id, {
          id: spec.id,
          region: spec.region,
          source: spec.program.operators.some((op) => op.op === "read_object_store"),
          host: "127.0.0.1",
          controlPort: info.controlPort,
          dataPort: info.dataPort ?? 0,
          logFile,
        });
      }
    } catch (err) {
      await Promise.all(children.map(stopChild));
      throw err;
    }
    return new ChildGateways(
      o.topology.gateways.map((g) => gateways.get(g.id) as ProvisionedGateway),
      token,
      children,
    );
  }

  /** Stops every gateway and waits for each to exit. */
  async stop(): Promise<void> {
    await Promise.all(this.children.map(stopChild));
  }
}

/** Starts `command` in a process group of its own, stdin and stdout piped, stderr to `logFile`. */
function spawnLogged(command: string[], env: Record<string, string>, logFile: string) {
  fs.mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o700 });
  const log = fs.openSync(logFile, "a", 0o600);
  try {
    const [program, ...args] = command;
    // Its own process group: a terminal's Ctrl-C reaches this process alone, which then stops the
    // transfer in order and its gateways after it.
    return spawn(program, args, { detached: true, stdio: ["pipe", "pipe", log], env });
  } finally {
    fs.closeSync(log);
  }
}

/** Why a child gateway is not ready (the caller names the gateway and quotes its log). */
function failed(why: string): SkyplaneError {
  return new SkyplaneError("PROVISION_FAILED", why);
}

/** The JSON line a gateway prints once it listens; after it, nothing here waits on the child. */
function readyInfo(child: ChildProcess, timeoutMs: number): Promise<GatewayInfo> {
  const out = child.stdout as NodeJS.ReadableStream & Socket;
  return new Promise<GatewayInfo>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => done(failed(`was not ready after ${timeoutMs} ms`)), timeoutMs);
    const onData = (b: Buffer) => {
      text += b.toString("utf8");
      const nl = text.indexOf("\n");
      if (nl < 0) return;
      try {
        done(undefined, JSON.parse(text.slice(0, nl)) as GatewayInfo);
      } catch {
        done(failed(`said something else than where it listens: ${text.slice(0, 200)}`));
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(failed(`exited (${signal ?? `code ${code}`}) before it was ready`));
    const onError = (err: Error) => done(failed(`could not start: ${err.message}`));
    function done(err?: Error, info?: GatewayInfo) {
      clearTimeout(timer);
      out.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
      if (err) return reject(err);
      // Nothing more is read (the daemon prints nothing else there) and nothing keeps this process up:
      // if it ends without stopping them, their stdin ends and they stop.
      out.resume();
      out.unref();
      (child.stdin as Socket).unref();
      child.unref();
      resolve(info as GatewayInfo);
    }
    out.on("data", onData);
    child.once("exit", onExit);
    child.once("error", onError);
  });
}

/** Stops a child gateway: SIGTERM, then SIGKILL after a grace period; resolves once it has exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
