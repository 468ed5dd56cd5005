#!/usr/bin/env node
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { parseGatewayProgram } from "../../planner/program";
import { skyplaneHome } from "../../common/paths";
import type { GatewayInfo } from "../launch";
import { onHeldWarning } from "../../stores/s3/sdk-warning";
import { ControlServer } from "./control";
import { GatewayExecutor } from "./executor";

/*
 * The gateway daemon. Secrets come from the environment, never from argv (which `ps` shows):
 *   SKYPLANE_GATEWAY_TOKEN  the dataplane token (required)
 *   SKYPLANE_GATEWAY_KEY    the dataplane AES-256 key, base64 (required if the program encrypts)
 *   SKYPLANE_HOME           where local buckets live
 *   SKYPLANE_GATEWAY_PROGRAM the program as JSON, when --program is not given
 * Once both servers listen it writes { pid, gatewayId, controlPort, dataPort } to --info-file (atomically)
 * and as one JSON line to stdout. That file is its stack's record of it on this machine: once it is gone,
 * or names another process, or SKYPLANE_HOME is gone, the gateway has been torn down (or replaced) and
 * it exits. With --lease-seconds it also exits when no authenticated request has reached it for that long
 * (its client died; before the first one, at least a minute), though never before --expire-at (a
 * keep-warm gateway waits for later clients). With --exit-with-stdin it exits once its stdin ends: the
 * process that started it holds the other end of that pipe, and the kernel closes it when that process
 * ends, however it ends (a client's own gateways, runner/children.ts).
 */

const USAGE = `usage: skyplane-gateway [--program FILE] [--expire-at EPOCH_MS] [--ttl-minutes N] [--control-host H] [--control-port P]
       [--data-host H] [--data-port P] [--info-file FILE] [--max-inflight-mib N] [--max-receive-mib N]
       [--dead-peer-ms MS] [--lease-seconds N] [--max-writes N] [--max-inflight-chunks N] [--exit-with-stdin]`;

/** Seconds a gateway with a lease waits for its client's first call (it provisions the rest first). */
const FIRST_CONTACT_SECONDS = 60;

function fail(message: string): never {
  process.stderr.write(`skyplane-gateway: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

/** Runs `fn` at epoch ms `when`, however far away (a single timer holds at most ~24.8 days). */
function at(when: number, fn: () => void): void {
  const wait = when - Date.now();
  if (wait <= 0) return fn();
  setTimeout(() => at(when, fn), Math.min(wait, 2 ** 31 - 1)).unref();
}

/** Why a local gateway no longer belongs to a stack (its record or home is gone), or undefined. */
function orphaned(infoFile: string, home: string | undefined): string | undefined {
  if (home && !fs.existsSync(home)) return `its home ${home} is gone`;
  let pid: unknown;
  try {
    pid = JSON.parse(fs.readFileSync(infoFile, "utf8")).pid;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return `its record ${infoFile} is gone`;
    return undefined; // unreadable for a moment: look again next time
  }
  return pid === process.pid ? undefined : `its record ${infoFile} names process ${pid}`;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        program: { type: "string" },
        "control-host": { type: "string", default: "127.0.0.1" },
        "control-port": { type: "string", default: "0" },
        "data-host": { type: "string", default: "127.0.0.1" },
        "data-port": { type: "string", default: "0" },
        "info-file": { type: "string" },
        "max-inflight-mib": { type: "string", default: "256" },
        "max-receive-mib": { type: "string", default: "256" },
        "dead-peer-ms": { type: "string", default: "15000" },
        "max-writes": { type: "string", default: "64" },
        "max-inflight-chunks": { type: "string", default: "2048" },
        "expire-at": { type: "string" },
        "ttl-minutes": { type: "string" },
        "lease-seconds": { type: "string" },
        "exit-with-stdin": { type: "boolean", default: false },
      },
      strict: true,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  const programText = values.program ? undefined : process.env.SKYPLANE_GATEWAY_PROGRAM;
  if (!values.program && !programText) fail("--program or SKYPLANE_GATEWAY_PROGRAM is required");
  const token = process.env.SKYPLANE_GATEWAY_TOKEN;
  if (!token) fail("SKYPLANE_GATEWAY_TOKEN is not set");
  const key = process.env.SKYPLANE_GATEWAY_KEY
    ? Buffer.from(process.env.SKYPLANE_GATEWAY_KEY, "base64")
    : undefined;
  if (key && key.length !== 32) fail("SKYPLANE_GATEWAY_KEY must be 32 bytes, base64-encoded");
  const count = (flag: "max-writes" | "max-inflight-chunks"): number => {
    const n = Number(values[flag]);
    if (!Number.isInteger(n) || n < 1) fail(`--${flag} takes a whole number of at least 1`);
    return n;
  };
  const maxWrites = count("max-writes");
  const maxInflightChunks = count("max-inflight-chunks");
  let program;
  try {
    program = parseGatewayProgram(
      JSON.parse(programText ?? fs.readFileSync(values.program as string, "utf8")),
    );
  } catch (err) {
    fail(`program ${values.program ?? "in SKYPLANE_GATEWAY_PROGRAM"}: ${(err as Error).message}`);
  }
  // What the AWS SDK keeps off a user's terminal belongs in a gateway's log.
  onHeldWarning((warning) => log(`warning: ${warning}`));
  const errors: string[] = [];
  const problem = (line: string) => {
    log(line);
    if (errors.length < 1000) errors.push(line);
  };
  const executor = new GatewayExecutor(program, {
    token,
    key,
    stores: { home: skyplaneHome() },
    maxInflightBytes: Number(values["max-inflight-mib"]) * 1024 * 1024,
    maxReceiveBytes: Number(values["max-receive-mib"]) * 1024 * 1024,
    deadPeerMs: Number(values["dead-peer-ms"]),
    maxWrites,
    maxInflightChunks,
    log: problem,
  });
  let stopping = false;
  let lastContact: number | undefined;
  const started = Date.now();
  const control = new ControlServer({
    token,
    executor,
    errors,
    onShutdown: () => void stop("shutdown requested"),
    onContact: () => (lastContact = Date.now()),
  });
  async function stop(why: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${why}`);
    await Promise.allSettled([control.close(), executor.close()]);
    process.exit(0);
  }
  // A keep-warm gateway exits on its own at its expiry, even when no client is left to stop it.
  if (values["expire-at"]) {
    const expireAt = Number(values["expire-at"]);
    if (!Number.isFinite(expireAt)) fail("--expire-at takes milliseconds since the epoch");
    at(expireAt, () => void stop(`expired at ${new Date(expireAt).toISOString()}`));
  }
  // Every gateway ends itself after its TTL, counted from its start: nothing runs on after a lost client.
  if (values["ttl-minutes"]) {
    const ttl = Number(values["ttl-minutes"]);
    if (!(ttl > 0)) fail("--ttl-minutes takes a positive number of minutes");
    at(Date.now() + ttl * 60_000, () => void stop(`TTL of ${ttl} minutes reached`));
  }
  // A gateway whose client has been silent for a lease ends itself (and the writes it has in flight).
  if (values["lease-seconds"]) {
    const lease = Number(values["lease-seconds"]);
    if (!(lease > 0)) fail("--lease-seconds takes a positive number of seconds");
    const warmUntil = values["expire-at"] ? Number(values["expire-at"]) : 0;
    setInterval(
      () => {
        const now = Date.now();
        // Until the client first calls, it may still be starting the route's other gateways.
        const silent =
          lastContact === undefined
            ? now - started > Math.max(lease, FIRST_CONTACT_SECONDS) * 1000
            : now - lastContact > lease * 1000;
        if (silent && now >= warmUntil) void stop(`no word from the client for ${lease} s (lease)`);
      },
      Math.min(1000, lease * 250),
    ).unref();
  }
  if (values["exit-with-stdin"]) {
    // The pipe's far end closes when the process that started this one ends, even by SIGKILL.
    const gone = () => void stop("its stdin ended: the process that started it is gone");
    process.stdin.once("end", gone).once("error", gone).resume();
  }
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  const dataPort = await executor.listen(Number(values["data-port"]), values["data-host"]);
  const controlPort = await control.listen(Number(values["control-port"]), values["control-host"]);
  const info: GatewayInfo = {
    pid: process.pid,
    gatewayId: program.gatewayId,
    controlPort,
    dataPort: dataPort ?? null,
  };
  const infoFile = values["info-file"];
  const home = process.env.SKYPLANE_HOME;
  if (stopping) return; // told to stop while starting: say nothing of being ready
  if (infoFile) {
    // Torn down while starting (its home deleted): never re-create what was removed.
    if (home && !fs.existsSync(home)) return stop(`its home ${home} is gone`);
    const tmp = `${infoFile}.${process.pid}.tmp`;
    // Owner-only, whatever the umask: it says where this gateway's control API listens.
    fs.mkdirSync(path.dirname(infoFile), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, JSON.stringify(info), { mode: 0o600 });
    fs.renameSync(tmp, infoFile);
    // Twice in a row, a second apart: a record rewritten at that very moment is not taken for gone.
    let suspect: string | undefined;
    setInterval(() => {
      const why = orphaned(infoFile, home);
      if (why && suspect) void stop(why);
      suspect = why;
    }, 1000).unref();
  }
  process.stdout.write(JSON.stringify(info) + "\n");
  log(
    `gateway ${program.gatewayId} (${program.region}) ready: control ${controlPort}, data ${dataPort ?? "-"}`,
  );
}

main().catch((err: Error) => {
  log(`fatal: ${err.stack ?? err.message}`);
  process.exit(1);
});
