import * as fs from "node:fs";
import * as path from "node:path";
import { homeLayout } from "../common/paths";
import { SkyplaneClient } from "../runner";

/*
 * The runner's side of bench/scale, as a process of its own so that its peak RSS is the runner's alone:
 * `SkyplaneClient.copy()` of a whole bucket on a route kept warm (the bench warmed it before), then
 * the peak RSS (VmHWM) of this process and of each of the route's gateways, read before they exit.
 *
 *   node scale-runner.js HOME SRC DST STACK
 *
 * stdout: one JSON object. Seconds are from just before `copy()` is called.
 */

/** Peak resident set of process `pid` in MiB (VmHWM), or undefined when it is gone. */
export function peakRssMiB(pid: number | "self"): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const [home, src, dst, stack] = process.argv.slice(2);
  const client = new SkyplaneClient({ home });
  const start = process.hrtime.bigint();
  const since = () => Number(process.hrtime.bigint() - start) / 1e9;
  // SKYPLANE_BENCH_SCALE_TRACE=FILE: objects done, the heap and RSS every second, appended to FILE.
  let done = 0;
  const traceFile = process.env.SKYPLANE_BENCH_SCALE_TRACE;
  const trace = traceFile
    ? setInterval(() => {
        const m = process.memoryUsage();
        const mib = (n: number) => Math.round(n / 2 ** 20);
        fs.appendFileSync(
          traceFile,
          `${since().toFixed(1)} s: ${done} objects; rss ${mib(m.rss)} heapUsed ${mib(m.heapUsed)} heapTotal ${mib(m.heapTotal)} MiB\n`,
        );
      }, 1000)
    : undefined;
  const marks: Record<string, number> = {};
  const result = await client.copy({
    src,
    dst,
    recursive: true,
    keepWarmSeconds: 3 * 3600, // as the warm-up: a warm gateway ends at its expiry, copy or not
    onProgress: (p) =>
      p.on((e) => {
        if (e.type === "dispatched") marks.firstDispatched ??= since();
        // The first object written at the destination: its bytes counted there, or its ack.
        if (e.type === "landed" || e.type === "chunk_done") marks.firstLanded ??= since();
        if (e.type === "object_done") done++;
      }),
  });
  const copySeconds = since();
  clearInterval(trace);
  const runDir = path.join(homeLayout(home).run, stack);
  const gateways = Object.fromEntries(
    fs.readdirSync(runDir).map((f) => {
      const info = JSON.parse(fs.readFileSync(path.join(runDir, f), "utf8")) as { pid: number };
      return [path.basename(f, ".json"), peakRssMiB(info.pid)];
    }),
  );
  process.stdout.write(
    JSON.stringify({
      objects: result.objects,
      bytes: result.bytes,
      copySeconds,
      transferSeconds: result.seconds,
      provision: result.provision?.how,
      marks,
      runnerPeakRssMiB: peakRssMiB("self"),
      gatewayPeakRssMiB: gateways,
      verified: result.verified?.objects,
    }) + "\n",
  );
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
