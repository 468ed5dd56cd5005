import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pLimit from "p-limit";
import { SkyplaneClient } from "../runner";
import { GatewayClient } from "../runner/gateway-client";
import { TransferProgress } from "../runner/progress";
import { DEFAULT_TRANSFER_OPTIONS, runTransfer } from "../runner/transfer";
import { startEmulators } from "../scripts/emulators";
import { ObjectStore, openStore, S3Store, StoreContext, StoreUri } from "../stores";
import { startDataplane } from "./loopback";

/*
 * npm run bench:small — many small objects through one source and one destination gateway on loopback
 * (gateways as child processes, no Pulumi), and where their time goes: besides the wall clock, the CPU
 * seconds of the runner and of each gateway, the control-API calls the runner made, the store calls
 * it made at the destination (HEADs, reads), the frames the gateways exchanged and the writes the
 * destination gateway made, each per object. One JSON line per destination:
 *
 *   local:  local:east → local:west (a local bucket to another)
 *   s3:     local:east → s3:// on the S3 emulator (gofakes3), as `folder → s3://` writes it
 *
 * SKYPLANE_SMALL_DST picks destinations (comma-separated, default "local,s3"), SKYPLANE_SMALL_COUNT the
 * objects (10000), SKYPLANE_SMALL_BYTES each one's size (4096). Gateway flags go in
 * SKYPLANE_SMALL_DEST_ARGS / SKYPLANE_SMALL_SOURCE_ARGS; node flags for both gateways (--cpu-prof …) in
 * SKYPLANE_GATEWAY_NODE_ARGS, as for every loopback gateway.
 */

const r3 = (x: number) => Number(x.toPrecision(3));
const count = Number(process.env.SKYPLANE_SMALL_COUNT ?? 10_000);
const size = Number(process.env.SKYPLANE_SMALL_BYTES ?? 4096);

/** User plus system CPU seconds of process `pid` so far (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** `client` with each control-API call counted in `calls`. */
function countedClient(client: GatewayClient, calls: Record<string, number>): GatewayClient {
  for (const m of ["submit", "chunkStatus", "status"] as const) {
    const f = client[m].bind(client) as (...a: unknown[]) => Promise<unknown>;
    (client as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
      calls[m] = (calls[m] ?? 0) + 1;
      return f(...a);
    };
  }
  return client;
}

/** An opener whose stores count each call by method in `calls`. */
function countedOpener(calls: Record<string, number>) {
  return (uri: StoreUri, ctx: StoreContext): ObjectStore =>
    new Proxy(openStore(uri, ctx), {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== "function" || typeof prop !== "string") return value;
        return (...args: unknown[]) => {
          calls[prop] = (calls[prop] ?? 0) + 1;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
}

async function run(
  dst: "local" | "s3",
  env: Record<string, string>,
  storagePid?: number,
): Promise<void> {
  const destination =
    dst === "s3" ? `s3://bench-small-${crypto.randomUUID().slice(0, 8)}` : undefined;
  if (destination) await new S3Store(destination.slice(5), {}, env).createBucket("aws:us-east-1");
  const split = (v?: string) => v?.split(" ").filter(Boolean);
  const dp = await startDataplane({
    compress: "none",
    encrypt: true,
    destination,
    env,
    sourceArgs: split(process.env.SKYPLANE_SMALL_SOURCE_ARGS),
    destArgs: split(process.env.SKYPLANE_SMALL_DEST_ARGS),
  });
  try {
    const limit = pLimit(32);
    const body = crypto.randomBytes(size);
    await Promise.all(
      [...Array(count).keys()].map((i) =>
        limit(() => dp.src.put(`small/${String(i).padStart(6, "0")}`, body)),
      ),
    );
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const plan = await new SkyplaneClient({ home: dp.home }).planCopy({
      src: "local://src/small/",
      dst: `${destination ?? "local://dst"}/small/`,
      recursive: true,
    });
    process.env = saved;
    const control: Record<string, number> = {};
    const storeCalls: Record<string, number> = {};
    const client = countedClient(dp.client, control);
    const gateways = { source: dp.source.info.pid, destination: dp.dest.info.pid };
    const cpu0 = {
      source: cpuSeconds(gateways.source),
      dest: cpuSeconds(gateways.destination),
      storage: storagePid ? cpuSeconds(storagePid) : 0,
    };
    const self0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    const since = () => Number(process.hrtime.bigint() - start) / 1e9;
    // When the first and the last chunk were done, and the last object completed.
    const marks: Record<string, number> = {};
    const progress = new TransferProgress();
    progress.on((e) => {
      if (e.type === "chunk_done") {
        marks.firstChunkDone ??= since();
        marks.lastChunkDone = since();
      } else if (e.type === "object_done") marks.lastObjectDone = since();
    });
    const result = await runTransfer(
      plan,
      {
        sources: [client],
        stores: { home: dp.home, env },
        dstRegion: plan.dst.region,
        open: countedOpener(storeCalls),
      },
      DEFAULT_TRANSFER_OPTIONS,
      progress,
    );
    const seconds = since();
    const self = process.cpuUsage(self0);
    const cpu = {
      runner: r3((self.user + self.system) / 1e6),
      source: r3(cpuSeconds(gateways.source) - cpu0.source),
      destination: r3(cpuSeconds(gateways.destination) - cpu0.dest),
      ...(storagePid ? { storage: r3(cpuSeconds(storagePid) - cpu0.storage) } : {}),
    };
    await plan[Symbol.asyncDispose]();
    if (result.objects !== count) throw new Error(`copied ${result.objects} of ${count} objects`);
    const destStats = new GatewayClient(
      { gatewayId: "west-0", host: "127.0.0.1", controlPort: dp.dest.info.controlPort },
      dp.token,
    );
    const [srcStatus, dstStatus] = [await dp.client.status(), await destStats.status()];
    destStats.close();
    const per = (n: number | undefined) => r3((n ?? 0) / count);
    const calls = Object.values(control).reduce((a, b) => a + b, 0);
    console.log(
      JSON.stringify({
        bench: "small",
        work: `local:east → ${destination ? "s3:// (emulator)" : "local:west"}, ${count} × ${size} B`,
        objects: count,
        seconds: r3(seconds),
        objectsPerSecond: r3(count / seconds),
        // Seconds from the first dispatch: first and last chunk done, last object completed.
        marks: Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, r3(v)])),
        cpuSeconds: cpu,
        cpuMsPerObject: {
          runner: r3((cpu.runner * 1000) / count),
          source: r3((cpu.source * 1000) / count),
          destination: r3((cpu.destination * 1000) / count),
        },
        perObject: {
          controlCalls: per(calls),
          runnerStoreCalls: per(Object.values(storeCalls).reduce((a, b) => a + b, 0)),
          framesSent: per(srcStatus.stats.framesSent),
          framesReceived: per(dstStatus.stats.framesReceived),
          storeWrites: per(dstStatus.stats.writes),
        },
        controlCalls: control,
        runnerStoreCalls: storeCalls,
        verified: result.verified,
      }),
    );
  } finally {
    await dp.stop();
  }
}

async function main(): Promise<void> {
  const wanted = (process.env.SKYPLANE_SMALL_DST ?? "local,s3").split(",");
  for (const w of wanted)
    if (w !== "local" && w !== "s3")
      throw new Error(`SKYPLANE_SMALL_DST: no destination ${w} (local, s3)`);
  if (wanted.includes("local")) await run("local", {});
  if (wanted.includes("s3")) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-small-"));
    const emulators = await startEmulators(dir);
    try {
      const { AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION } =
        emulators.env;
      const s3 = emulators.processes.find((p) => p.name === "gofakes3")?.pid;
      await run(
        "s3",
        { AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION },
        s3,
      );
    } finally {
      await emulators.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
