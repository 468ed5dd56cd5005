import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { planDirect } from "../planner/direct";
import { loadSolver } from "../planner/highs";
import { buildModel } from "../planner/model";
import { planOverlay } from "../planner/overlay";
import { NetworkProfile, parseProfile, profileModelOptions } from "../planner/profile";
import type { Topology } from "../planner/topology";
import { homeLayout } from "../common/paths";
import { SkyplaneClient } from "../runner";
import { LocalStore, localBucketRoot } from "../stores";

/*
 * npm run bench:wan (as root) — rehearses plans on the local cloud shaped like a WAN (namespaces, tbf)
 * and compares what the planner predicts with what the gateways measure. One JSON line per run:
 *   relay:    direct east→west is 4× slower than the detour through north; the cost objective with a
 *             target above the direct link picks the relay; targets: ≥ 0.9 of the prediction, ≥ 3× direct;
 *   scaling:  gateways capped at 10 Mbit/s egress; 4 per region reach ≥ 3.5× one;
 *   fidelity: five random pairs of profiles/aws-triangle.json, measured ÷ predicted within 0.85–1.05.
 * Rates are tens of Mbit/s so that the two cores are never the bottleneck; each line reports CPU use.
 */

const PROFILES = path.resolve(__dirname, "..", "..", "profiles");

function profile(name: string): NetworkProfile {
  return parseProfile(JSON.parse(fs.readFileSync(path.join(PROFILES, name), "utf8")));
}

function cpuSeconds(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return 0;
  }
}

/** Runs one rehearsal: provisions `topology`, copies ~`seconds` worth of data, tears down. */
async function rehearse(
  net: NetworkProfile,
  topology: Topology,
  seconds: number,
): Promise<{ measuredGbps: number; cpuSeconds: number; bytes: number }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-wan-"));
  try {
    const client = new SkyplaneClient({ home, network: net, transferConfig: { compress: "none" } });
    const { src, dsts } = topology.route;
    const srcStore = await LocalStore.createBucket(
      "wan-src",
      localBucketRoot({ home }, "wan-src"),
      src,
    );
    await LocalStore.createBucket("wan-dst", localBucketRoot({ home }, "wan-dst"), dsts[0]);
    const bytes =
      Math.max(4, Math.round((topology.estimate.throughputGbps * 1e9 * seconds) / 8 / (1 << 20))) <<
      20;
    const block = crypto.randomBytes(1 << 20);
    for (let i = 0; i < bytes >> 20; i++)
      await srcStore.put(`data/${String(i).padStart(4, "0")}`, block);
    const dp = client.dataplaneFor(topology);
    if (dp.network !== "shaped")
      throw new Error(`the network is ${dp.network}: run the benchmark as root`);
    return await dp.autoDeprovision(async () => {
      await dp.provision();
      const runDir = path.join(homeLayout(home).run, dp.stackName);
      const pids = fs
        .readdirSync(runDir)
        .map((f) => JSON.parse(fs.readFileSync(path.join(runDir, f), "utf8")).pid as number);
      const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
      const self0 = process.cpuUsage();
      dp.queueCopy("local://wan-src/data/", "local://wan-dst/data/", { recursive: true });
      const [result] = await dp.run();
      const self = process.cpuUsage(self0);
      const cpu =
        pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0 + (self.user + self.system) / 1e6;
      return {
        measuredGbps: (result.bytes * 8) / 1e9 / result.seconds,
        cpuSeconds: cpu,
        bytes: result.bytes,
      };
    });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

function line(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench: "wan", ...fields }));
}

const r3 = (x: number) => Number(x.toPrecision(3));

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    line({ skipped: "needs root: network namespaces and tc shape the links" });
    return;
  }
  const solver = await loadSolver();

  // relay
  const relayNet = profile("relay.json");
  const model = buildModel(profileModelOptions(relayNet));
  const direct = planDirect({ src: "local:east", dsts: ["local:west"] }, model);
  const target = 3 * direct.estimate.throughputGbps; // 30 Mbit/s: above the 10 Mbit/s direct link
  const overlay = planOverlay(
    {
      src: "local:east",
      dsts: ["local:west"],
      objective: "cost",
      minThroughputGbps: target,
      maxVmsPerRegion: 1,
    },
    model,
    solver,
  );
  const viaRelay = await rehearse(relayNet, overlay, 8);
  const forced = await rehearse(relayNet, direct, 6);
  line({
    scenario: "relay",
    relays: overlay.regions
      .map((r) => r.region)
      .filter((r) => !["local:east", "local:west"].includes(r)),
    predictedGbps: overlay.estimate.throughputGbps,
    measuredGbps: r3(viaRelay.measuredGbps),
    ratio: r3(viaRelay.measuredGbps / overlay.estimate.throughputGbps),
    directPredictedGbps: direct.estimate.throughputGbps,
    directMeasuredGbps: r3(forced.measuredGbps),
    speedupOverDirect: r3(viaRelay.measuredGbps / forced.measuredGbps),
    targets: { ratio: 0.9, speedupOverDirect: 3 },
    cpuSeconds: r3(viaRelay.cpuSeconds + forced.cpuSeconds),
  });

  // scaling
  const capped = profile("capped.json");
  const cappedModel = buildModel(profileModelOptions(capped));
  const one = planDirect({ src: "local:east", dsts: ["local:west"], nVms: 1 }, cappedModel);
  const four = planDirect({ src: "local:east", dsts: ["local:west"], nVms: 4 }, cappedModel);
  const m1 = await rehearse(capped, one, 16);
  const m4 = await rehearse(capped, four, 16);
  line({
    scenario: "scaling",
    predictedGbps: four.estimate.throughputGbps,
    measuredGbps: r3(m4.measuredGbps),
    ratio: r3(m4.measuredGbps / four.estimate.throughputGbps),
    oneGatewayMeasuredGbps: r3(m1.measuredGbps),
    speedup: r3(m4.measuredGbps / m1.measuredGbps),
    targets: { speedup: 3.5 },
    cpuSeconds: r3(m1.cpuSeconds + m4.cpuSeconds),
  });

  // fidelity: five pairs of the triangle, in a fixed order (every ordered pair but one).
  const tri = profile("aws-triangle.json");
  const triModel = buildModel(profileModelOptions(tri));
  const pairs = tri.regions
    .flatMap((a) => tri.regions.filter((b) => b !== a).map((b) => [a, b] as const))
    .slice(0, 5);
  for (const [a, b] of pairs) {
    const plan = planDirect({ src: a, dsts: [b] }, triModel);
    const m = await rehearse(tri, plan, 8);
    line({
      scenario: "fidelity",
      route: `${a}→${b}`,
      predictedGbps: plan.estimate.throughputGbps,
      measuredGbps: r3(m.measuredGbps),
      ratio: r3(m.measuredGbps / plan.estimate.throughputGbps),
      targets: { ratio: [0.85, 1.05] },
      cpuSeconds: r3(m.cpuSeconds),
    });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
