import * as fs from "node:fs";
import * as path from "node:path";

/*
 * Summarises V8 CPU profiles (`node --cpu-prof`, or the inspector's Profiler.stop) so that where the time
 * goes is read off, not guessed: per profile, the time sampled, how much of it the thread was busy, and
 * the functions with the most self time, each as a share of the busy samples.
 *
 *   node dist/bench/cpu-profile.js [--top N] FILE.cpuprofile|DIR ...    (a folder: every profile in it)
 *
 * One JSON line per profile: {profile, sampledSeconds, busySeconds, busyShare, top: [{fn, at, selfMs,
 * share}]}. "(garbage collector)", "(program)" (native work outside JavaScript, e.g. a cipher or a
 * syscall called synchronously) and "(idle)" are V8's own names; idle time is left out of the shares.
 */

/** The parts of a .cpuprofile this reads. */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
  }>;
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One function's self time. */
export interface SelfTime {
  /** Its name ("(anonymous)" when it has none). */
  readonly fn: string;
  /** File (base name) and 1-based line, or "" for V8's pseudo-functions. */
  readonly at: string;
  readonly selfMs: number;
  /** Share of the busy (non-idle) time. */
  readonly share: number;
}

/** A profile's summary. */
export interface ProfileSummary {
  readonly sampledSeconds: number;
  readonly busySeconds: number;
  readonly busyShare: number;
  readonly top: SelfTime[];
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** Self time per function of `profile` (by name and place), the `top` largest first. */
export function summarise(profile: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, { fn: string; at: string; us: number }>();
  let idle = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time from the previous sample to this one: it is charged to this one.
    const us = Math.max(0, profile.timeDeltas[i] ?? 0);
    total += us;
    const frame = byId.get(id);
    const fn = frame?.functionName || "(anonymous)";
    if (fn === "(idle)") {
      idle += us;
      return;
    }
    const at = frame?.url ? `${path.basename(frame.url)}:${frame.lineNumber + 1}` : "";
    const key = `${fn} ${at}`;
    const entry = self.get(key) ?? { fn, at, us: 0 };
    entry.us += us;
    self.set(key, entry);
  });
  const busy = total - idle;
  return {
    sampledSeconds: round(total / 1e6, 2),
    busySeconds: round(busy / 1e6, 2),
    busyShare: total > 0 ? round(busy / total, 3) : 0,
    top: [...self.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({
        fn: e.fn,
        at: e.at,
        selfMs: Math.round(e.us / 1000),
        share: busy > 0 ? round(e.us / busy, 3) : 0,
      })),
  };
}

/** The profile files that `args` name (files, or folders of them). */
function profileFiles(args: readonly string[]): string[] {
  return args.flatMap((a) =>
    fs.statSync(a).isDirectory()
      ? fs
          .readdirSync(a)
          .filter((f) => f.endsWith(".cpuprofile"))
          .sort()
          .map((f) => path.join(a, f))
      : [a],
  );
}

if (require.main === module) {
  const args = process.argv.slice(2);
  let top = 15;
  const at = args.indexOf("--top");
  if (at >= 0) {
    top = Number(args[at + 1]);
    args.splice(at, 2);
  }
  const files = profileFiles(args);
  if (files.length === 0 || !Number.isInteger(top) || top < 1) {
    console.error("usage: node dist/bench/cpu-profile.js [--top N] FILE.cpuprofile|DIR ...");
    process.exit(2);
  }
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
    console.log(JSON.stringify({ profile: file, ...summarise(profile, top) }));
  }
}
