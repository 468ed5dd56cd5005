import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { homeLayout } from "../../common/paths";
import { LOCAL_TTL_MINUTES } from "../../common/ttl";
import { gatewayCommand, gatewayEnv } from "../../gateway-image/launch";
import type { GatewayProgram } from "../../planner/program";
import { GatewayOutputs, gatewayOutputs } from "../gateway";
import { LocalProcess } from "./process";

/** Arguments of a gateway on the local cloud. */
export interface LocalGatewayArgs {
  /** Its program, with send targets bound to addresses. */
  program: pulumi.Input<GatewayProgram>;
  /** The dataplane token (keep it a secret). */
  token: pulumi.Input<string>;
  /** The dataplane key, 32 bytes base64 (keep it a secret). */
  key: pulumi.Input<string>;
  /** The skyplane home: local buckets and run files live there. */
  home: pulumi.Input<string>;
  /** Folder of gateway logs; default `<home>/logs`. A stack's logs go to `<logDir>/<stack>/`. */
  logDir?: pulumi.Input<string | undefined>;
  /** Address the gateway binds; default 127.0.0.1. */
  host?: pulumi.Input<string>;
  /** Epoch ms at which it exits on its own (keep-warm TTL); default never. */
  expireAt?: pulumi.Input<number | undefined>;
  /** Minutes from its start after which it exits on its own. Default LOCAL_TTL_MINUTES. */
  ttlMinutes?: number;
  /** Seconds of silence from its client after which it exits on its own (not before expireAt); default never. */
  leaseSeconds?: number;
  /** Tags: `skyplane`, `skyplane:route`, `skyplane:dataplane`, `skyplane:expires` (what the policy pack checks). */
  tags?: pulumi.Input<Record<string, string>>;
  /** Network namespace to run in (an emulated WAN); default the host's. */
  netns?: pulumi.Input<string | undefined>;
  /** Extra environment for the stores (endpoints, credentials); keep it a secret. */
  storeEnv?: pulumi.Input<Record<string, string> | undefined>;
}

/** Files of a local gateway: its log and the file it writes once it listens (under the home). */
export function localGatewayFiles(
  home: string,
  stack: string,
  gatewayId: string,
  logDir: string = homeLayout(home).logs,
): { logFile: string; infoFile: string } {
  return {
    logFile: path.join(logDir, stack, `${gatewayId}.log`),
    infoFile: path.join(homeLayout(home).run, stack, `${gatewayId}.json`),
  };
}

/** A gateway daemon as a process on this machine (the local cloud's "VM"). */
export class LocalGateway extends pulumi.ComponentResource implements GatewayOutputs {
  /** The daemon's process identity, `pid@start time` (what a recycled pid cannot fake). */
  readonly instanceId: pulumi.Output<string>;
  /** Process id of the daemon. */
  readonly pid: pulumi.Output<number>;
  /** Address it listens on. */
  readonly host: pulumi.Output<string>;
  /** Port of its control API. */
  readonly controlPort: pulumi.Output<number>;
  /** Port of its data server. */
  readonly dataPort: pulumi.Output<number>;
  /** Its log file. */
  readonly logFile: pulumi.Output<string>;

  constructor(name: string, args: LocalGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    const ttlMinutes = args.ttlMinutes ?? LOCAL_TTL_MINUTES;
    // Registered inputs are what the policy pack sees: bind address, tags and TTL, never secrets.
    super(
      "skyplane:local:Gateway",
      name,
      { host: args.host ?? "127.0.0.1", tags: args.tags, ttlMinutes },
      opts,
    );
    const stack = pulumi.getStack();
    const host = pulumi.output(args.host ?? "127.0.0.1");
    const program = pulumi.output(args.program);
    const files = pulumi
      .all([args.home, program, args.logDir])
      .apply(([home, p, logDir]) => localGatewayFiles(home, stack, p.gatewayId, logDir));
    const proc = new LocalProcess(
      `${name}-daemon`,
      {
        command: pulumi
          .all([files, host, args.expireAt, args.netns])
          .apply(([f, h, expireAt, netns]) => [
            ...(netns ? ["ip", "netns", "exec", netns] : []),
            ...gatewayCommand(undefined, f.infoFile, {
              host: h,
              expireAt,
              ttlMinutes,
              leaseSeconds: args.leaseSeconds,
            }),
          ]),
        env: pulumi
          .all([args.home, args.token, args.key, program, args.storeEnv])
          .apply(([home, token, key, p, extra]) => ({
            ...extra,
            ...gatewayEnv(home, token, key, JSON.stringify(p)),
          })),
        logFile: files.logFile,
        readyFile: files.infoFile,
        stopGraceMs: 5000,
      },
      { parent: this },
    );
    const ready = proc.ready.apply(
      (r) => (r ?? {}) as { controlPort?: number; dataPort?: number | null },
    );
    this.instanceId = proc.id;
    this.pid = proc.pid;
    this.host = host;
    this.controlPort = ready.apply((r) => r.controlPort as number);
    this.dataPort = ready.apply((r) => r.dataPort ?? 0);
    this.logFile = proc.logFile;
    this.registerOutputs({ ...gatewayOutputs(this), pid: this.pid, logFile: this.logFile });
  }
}
