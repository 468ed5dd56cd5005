import * as pulumi from "@pulumi/pulumi";
import { isSameProcess, liveStartTime, stopProcess } from "../../common/process";
import { DynamicResource } from "./prebuilt";

/*
 * A long-lived process on this machine as a Pulumi resource: `up` starts it, `destroy` stops it.
 * This is how the local cloud runs its gateways.
 *
 * The provider below is serialised into the stack's state and runs inside the engine's dynamic-provider
 * plugin, not in this process: it may capture only plain values and functions, so it loads Node modules
 * with require() inside its methods (the serialiser cannot capture module objects such as fs/promises).
 * The process-identity functions it calls (common/process.ts) are written the same way.
 */

/** Inputs of a LocalProcess, as the provider sees them (resolved). */
export interface LocalProcessInputs {
  /** Program and arguments; the program is looked up on PATH if it has no slash. */
  command: string[];
  /** Environment of the process, added to a minimal PATH/HOME (the engine's own variables never leak). */
  env?: Record<string, string>;
  /** Working folder; defaults to the engine's. */
  cwd?: string;
  /** File that receives the process's stdout and stderr (appended, mode 0600). */
  logFile: string;
  /** Milliseconds between SIGTERM and SIGKILL on delete; default 10000. */
  stopGraceMs?: number;
  /** A JSON file the process writes once it is ready; create waits for it and returns its content. */
  readyFile?: string;
  /** Milliseconds to wait for `readyFile`; default 30000. */
  readyTimeoutMs?: number;
}

/** Outputs of a LocalProcess: its inputs plus the identity of the process. */
export interface LocalProcessOutputs extends LocalProcessInputs {
  /** The process id. */
  pid: number;
  /** Start time in clock ticks after boot; with the pid it identifies the process. */
  startTime: string;
  /** What the process wrote to `readyFile`. */
  ready?: Record<string, unknown>;
}

/** The dynamic provider behind LocalProcess; exported so that tests can drive its CRUD directly. */
export class LocalProcessProvider implements pulumi.dynamic.ResourceProvider {
  async check(
    _olds: LocalProcessInputs,
    news: LocalProcessInputs,
  ): Promise<pulumi.dynamic.CheckResult<LocalProcessInputs>> {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    // During a preview, values computed from other resources are not known yet (Pulumi's sentinel).
    const unknown = (v: unknown) => v === "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    if (
      !unknown(news.command) &&
      (!Array.isArray(news.command) || news.command.length === 0 || !news.command[0])
    ) {
      failures.push({ property: "command", reason: "command must name a program to run" });
    }
    if (!unknown(news.logFile) && !news.logFile)
      failures.push({ property: "logFile", reason: "logFile is required" });
    return { inputs: news, failures };
  }

  async diff(
    _id: string,
    olds: LocalProcessOutputs,
    news: LocalProcessInputs,
  ): Promise<pulumi.dynamic.DiffResult> {
    // A running process cannot change its command, environment or folder: any change replaces it.
    const keys = ["command", "env", "cwd", "logFile", "stopGraceMs", "readyFile"] as const;
    const replaces = keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
  }

  async create(
    inputs: LocalProcessInputs,
  ): Promise<pulumi.dynamic.CreateResult<LocalProcessOutputs>> {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const cp: typeof import("node:child_process") = require("node:child_process");
    const fs: typeof import("node:fs") = require("node:fs");
    const path: typeof import("node:path") = require("node:path");
    /* eslint-enable @typescript-eslint/no-require-imports */
    fs.mkdirSync(path.dirname(inputs.logFile), { recursive: true, mode: 0o700 });
    if (inputs.readyFile) fs.rmSync(inputs.readyFile, { force: true }); // a stale one would lie
    const log = fs.openSync(inputs.logFile, "a", 0o600);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: process.env.HOME ?? "/",
      ...inputs.env,
    };
    let child: import("node:child_process").ChildProcess;
    try {
      const [program, ...args] = inputs.command;
      // detached: its own session and process group, so it outlives the engine and is stopped as a group.
      child = cp.spawn(program, args, {
        detached: true,
        stdio: ["ignore", log, log],
        env,
        cwd: inputs.cwd,
      });
      await new Promise<void>((resolve, reject) => {
        child.once("spawn", resolve);
        child.once("error", reject);
      });
    } finally {
      fs.closeSync(log);
    }
    child.unref();
    const pid = child.pid;
    const startTime = pid === undefined ? undefined : liveStartTime(pid);
    if (pid === undefined || startTime === undefined) {
      throw new Error(`${inputs.command[0]} exited at once; see ${inputs.logFile}`);
    }
    const outs: LocalProcessOutputs = { ...inputs, pid, startTime };
    if (inputs.readyFile) {
      const deadline = Date.now() + (inputs.readyTimeoutMs ?? 30_000);
      for (;;) {
        try {
          outs.ready = JSON.parse(fs.readFileSync(inputs.readyFile, "utf8"));
          break;
        } catch {
          // not written yet (writers rename it into place, so it is never half-written)
        }
        const tail = () => fs.readFileSync(inputs.logFile, "utf8").slice(-1500);
        if (!isSameProcess(pid, startTime)) {
          throw new Error(
            `${inputs.command[0]} exited before it was ready; ${inputs.logFile} ends with:\n${tail()}`,
          );
        }
        if (Date.now() > deadline) {
          await stopProcess(pid, startTime, 1000);
          throw new Error(
            `${inputs.command[0]} was not ready after ${inputs.readyTimeoutMs ?? 30_000} ms; see ${inputs.logFile}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    return { id: `${pid}@${startTime}`, outs };
  }

  async read(id: string, props: LocalProcessOutputs): Promise<pulumi.dynamic.ReadResult> {
    // A process that is gone (or whose pid was recycled) is reported missing, so refresh drops it.
    return isSameProcess(props.pid, props.startTime) ? { id, props } : {};
  }

  async delete(_id: string, props: LocalProcessOutputs): Promise<void> {
    await stopProcess(props.pid, props.startTime, props.stopGraceMs ?? 10_000);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs: typeof import("node:fs") = require("node:fs");
    if (props.readyFile) fs.rmSync(props.readyFile, { force: true }); // what it said is no longer true
  }
}

/** Arguments of a LocalProcess resource. */
export interface LocalProcessArgs {
  /** Program and arguments; the program is looked up on PATH if it has no slash. */
  command: pulumi.Input<pulumi.Input<string>[]>;
  /** Environment variables for the process; default none beyond PATH and HOME. */
  env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Working folder; default the engine's working folder. */
  cwd?: pulumi.Input<string>;
  /** File that receives stdout and stderr (appended). */
  logFile: pulumi.Input<string>;
  /** Milliseconds between SIGTERM and SIGKILL on delete; default 10000. */
  stopGraceMs?: pulumi.Input<number>;
  /** A JSON file the process writes (atomically) once it is ready; `up` waits for it. */
  readyFile?: pulumi.Input<string>;
  /** Milliseconds to wait for `readyFile`; default 30000. */
  readyTimeoutMs?: pulumi.Input<number>;
}

/** A process on this machine that runs from `up` until `destroy`. */
export class LocalProcess extends DynamicResource {
  /** The process id. */
  declare readonly pid: pulumi.Output<number>;
  /** Start time in clock ticks after boot; with the pid it identifies the process. */
  declare readonly startTime: pulumi.Output<string>;
  /** Where its output goes. */
  declare readonly logFile: pulumi.Output<string>;
  /** What it wrote to `readyFile`. */
  declare readonly ready: pulumi.Output<Record<string, unknown> | undefined>;

  /** Its provider is the build's serialisation of LocalProcessProvider (`prebuilt.ts`). */
  constructor(name: string, args: LocalProcessArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "LocalProcess",
      () => new LocalProcessProvider(),
      name,
      { ...args, pid: undefined, startTime: undefined, ready: undefined },
      // The environment carries the dataplane's token and key: keep it encrypted in the state.
      { ...opts, additionalSecretOutputs: ["env", ...(opts?.additionalSecretOutputs ?? [])] },
    );
  }
}
