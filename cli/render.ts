import * as readline from "node:readline/promises";
import { SingleBar, Presets } from "cli-progress";
import { Topology, TransferProgress, UserError } from "../runner";

/** `1536` → `1.5 KiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A plan in a few lines, for a person to read before confirming. */
export function describePlan(t: Topology, objects?: number, bytes?: number): string {
  const e = t.estimate;
  const lines = [
    `Route:    ${t.route.src} → ${t.route.dsts.join(", ")} (${t.objective} plan)`,
    `Gateways: ${t.regions.map((r) => `${r.gateways} × ${r.vmClass} in ${r.region}`).join(", ")}`,
    ...t.links.map(
      (l) => `  ${l.from} → ${l.to}: ${l.gbps} Gbit/s over ${l.connections} connections`,
    ),
    `Expected: ${e.throughputGbps} Gbit/s; $${e.costPerGB.total.toFixed(4)}/GB` +
      ` (egress $${e.costPerGB.egress.toFixed(4)} + gateways $${e.costPerGB.vm.toFixed(4)})`,
  ];
  if (objects !== undefined && bytes !== undefined) {
    lines.push(
      `Moves:    ${objects} object(s), ${formatBytes(bytes)}: about $${((e.costPerGB.total * bytes) / 1e9).toFixed(2)}`,
    );
  }
  return lines.join("\n");
}

/**
 * Asks the user to confirm, unless `yes`. Without a terminal to ask on, it refuses rather than
 * guessing, and says to pass -y.
 */
export async function confirm(question: string, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) {
    throw new UserError(
      "NEEDS_CONFIRMATION",
      "no terminal to confirm on: pass -y to go ahead without asking",
    );
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** Shows a live progress bar for a transfer on a terminal (stderr); prints nothing elsewhere. */
export function progressBar(progress: TransferProgress): void {
  if (!process.stderr.isTTY) return;
  const bar = new SingleBar(
    {
      format: " {bar} {percentage}% | {done} / {size} | {speed} | {chunks}",
      hideCursor: true,
      stream: process.stderr,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
  const started = Date.now();
  const fields = () => {
    const secs = (Date.now() - started) / 1000;
    return {
      done: formatBytes(progress.bytesDone),
      size: formatBytes(progress.bytesTotal),
      speed: secs > 0 ? `${formatBytes(progress.bytesDone / secs)}/s` : "",
      chunks: `${progress.chunksDone}/${progress.chunksTotal} chunks`,
    };
  };
  progress.on((e) => {
    if (e.type === "planned") bar.start(Math.max(1, e.bytes), 0, fields());
    else if (e.type === "chunk_done") bar.update(progress.bytesDone, fields());
    else if (e.type === "done" || e.type === "failed") {
      bar.update(progress.bytesDone, fields());
      bar.stop();
    }
  });
}
