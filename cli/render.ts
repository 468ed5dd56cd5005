import * as readline from "node:readline/promises";
import { SingleBar, Presets } from "cli-progress";
import { PlanEstimate, Topology, TransferProgress, UserError } from "../runner";

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

/**
 * A plan in a few lines, for a person to read before confirming: the route's topology and, for a
 * copy, what it moves (what `skyplane plan` and `cp --dry-run` print).
 */
export function describePlan(
  t: Topology,
  moves?: Pick<PlanEstimate, "objects" | "bytes" | "costUSD">,
): string {
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
  if (e.optimal === false) {
    const gap = ((e.optimalityGap ?? 0) * 100).toPrecision(2);
    lines.push(`Solver:   stopped at its time limit; the best plan could be up to ${gap}% better`);
  }
  if (moves) {
    lines.push(
      `Moves:    ${moves.objects} object(s), ${formatBytes(moves.bytes)}: about $${moves.costUSD.toFixed(2)}`,
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

/** `75` → `1m15s`; undefined for an ETA not known yet. */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * What the bar shows of a transfer at `now` (ms) that started dispatching at `started`: bytes landed
 * at the destination (written by its gateways, ahead of the acks), the average rate, and the time left
 * at that rate.
 */
export function barFields(
  progress: TransferProgress,
  started: number,
  now: number,
): { done: string; size: string; speed: string; eta: string } {
  const landed = progress.bytesLanded;
  const secs = (now - started) / 1000;
  const rate = secs > 0 ? landed / secs : 0;
  return {
    done: formatBytes(landed),
    size: formatBytes(progress.bytesTotal),
    speed: rate > 0 ? `${formatBytes(rate)}/s` : "",
    eta: formatEta(rate > 0 ? (progress.bytesTotal - landed) / rate : undefined),
  };
}

/**
 * Shows a live progress bar for a transfer on a terminal (stderr); prints nothing elsewhere. It moves
 * with the bytes the destination gateways have written (not only when a whole chunk is acked), and
 * shows the rate and the time left at it.
 */
export function progressBar(progress: TransferProgress): void {
  if (!process.stderr.isTTY) return;
  const bar = new SingleBar(
    {
      format: " {bar} {percentage}% | {done} / {size} | {speed} | ETA {eta} | {chunks}",
      hideCursor: true,
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  let started = Date.now();
  const fields = () => ({
    ...barFields(progress, started, Date.now()),
    chunks: `${progress.chunksDone}/${progress.chunksTotal} chunks`,
  });
  progress.on((e) => {
    if (e.type === "planned") {
      started = Date.now();
      bar.start(Math.max(1, e.bytes), 0, fields());
    } else if (e.type === "landed" || e.type === "chunk_done") {
      bar.update(progress.bytesLanded, fields());
    } else if (e.type === "done" || e.type === "failed") {
      bar.update(progress.bytesLanded, fields());
      bar.stop();
    }
  });
}
