#!/usr/bin/env node
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { parseGatewayProgram } from "../../planner/program";
import { skyplaneHome } from "../../runner/home";
import { ControlServer } from "./control";
import { GatewayExecutor } from "./executor";

/*
 * The gateway daemon. Secrets come from the environment, never from argv (which `ps` shows):
 *   SKYPLANE_GATEWAY_TOKEN  the dataplane token (required)
 *   SKYPLANE_GATEWAY_KEY    the dataplane AES-256 key, base64 (required if the program encrypts)
 *   SKYPLANE_HOME           where local buckets live
 *   SKYPLANE_GATEWAY_PROGRAM the program as JSON, when --program is not given
 * Once both servers listen it writes { pid, gatewayId, controlPort, dataPort } to --info-file (atomically)
 * and as one JSON line to stdout.
 */

const USAGE = `usage: skyplane-gateway [--program FILE] [--expire-at EPOCH_MS] [--ttl-minutes N] [--control-host H] [--control-port P]
       [--data-host H] [--data-port P] [--info-file FILE] [--max-inflight-mib N] [--max-receive-mib N]
       [--dead-peer-ms MS]`;

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
        "expire-at": { type: "string" },
        "ttl-minutes": { type: "string" },
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
  let program;
  try {
    program = parseGatewayProgram(
      JSON.parse(programText ?? fs.readFileSync(values.program as string, "utf8")),
    );
  } catch (err) {
    fail(`program ${values.program ?? "in SKYPLANE_GATEWAY_PROGRAM"}: ${(err as Error).message}`);
  }
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
    log: problem,
  });
  let stopping = false;
  const control = new ControlServer({
    token,
    executor,
    errors,
    onShutdown: () => void stop("shutdown requested"),
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
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  const dataPort = await executor.listen(Number(values["data-port"]), values["data-host"]);
  const controlPort = await control.listen(Number(values["control-port"]), values["control-host"]);
  const info = {
    pid: process.pid,
    gatewayId: program.gatewayId,
    controlPort,
    dataPort: dataPort ?? null,
  };
  if (values["info-file"]) {
    const tmp = `${values["info-file"]}.${process.pid}.tmp`;
    // Owner-only, whatever the umask: it says where this gateway's control API listens.
    fs.mkdirSync(path.dirname(values["info-file"]), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, JSON.stringify(info), { mode: 0o600 });
    fs.renameSync(tmp, values["info-file"]);
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
