import * as assert from "node:assert/strict";
import fc from "fast-check";
import { PlanError, planDirect } from "../../planner/direct";
import { loadSolver } from "../../planner/highs";
import {
  buildModel,
  DEFAULT_THROUGHPUT,
  estimateThroughputGbps,
  fitThroughput,
  GridRow,
  parseGridCsv,
  parsePriceCsv,
  PlannerModel,
  PriceRow,
} from "../../planner/model";
import { MilpSolver, planOverlay } from "../../planner/overlay";
import { bindProgram, parseGatewayProgram, Operator, GatewayRef } from "../../planner/program";
import { CATALOGUE, catalogueRegion } from "../../planner/catalogue";
import type { Topology } from "../../planner/topology";

/** Four real regions with a synthetic grid and prices, so expectations are exact. */
const A = "aws:us-east-1";
const B = "aws:us-west-2";
const R = "aws:us-east-2";
const D = "gcp:europe-west1-b";

function model(
  grid: Record<string, number>,
  prices: Record<string, number>,
  quotas?: Record<string, number>,
) {
  const all = [A, B, R, D];
  const g: GridRow[] = [];
  const p: PriceRow[] = [];
  for (const s of all) {
    for (const t of all) {
      if (s === t) continue;
      g.push({ src: s, dst: t, gbps: grid[`${s}>${t}`] ?? 1 });
      p.push({ src: s, dst: t, cost: prices[`${s}>${t}`] ?? 0.09 });
    }
  }
  return buildModel({ grid: g, prices: p, regions: all, quotas });
}

/** Every operator of a program, depth first. */
function ops(op: Operator<GatewayRef>): Operator<GatewayRef>[] {
  switch (op.op) {
    case "read_object_store":
    case "receive":
      return [op, ...ops(op.next)];
    case "mux_and":
    case "mux_or":
      return [op, ...op.children.flatMap(ops)];
    default:
      return [op];
  }
}

/** Gbit/s a topology sends out of and into a region. */
function rates(t: Topology, region: string): { out: number; in: number } {
  const sum = (ls: readonly { gbps: number }[]) => ls.reduce((s, l) => s + l.gbps, 0);
  return {
    out: sum(t.links.filter((l) => l.from === region)),
    in: sum(t.links.filter((l) => l.to === region)),
  };
}

/**
 * A single-destination topology conserves flow: the source sends T, the destination receives T and
 * every relay forwards what it receives (links are rounded to 4 significant digits). Returns the number
 * of regions checked.
 */
function checkFlow(t: Topology): number {
  const T = t.estimate.throughputGbps;
  const near = (a: number, b: number) => Math.abs(a - b) < 0.01 * T + 1e-3;
  const [dst] = t.route.dsts;
  assert.ok(near(rates(t, t.route.src).out, T), "source sends T");
  assert.ok(near(rates(t, dst).in, T), "destination gets T");
  const relays = t.regions.map((r) => r.region).filter((r) => r !== t.route.src && r !== dst);
  for (const r of relays)
    assert.ok(near(rates(t, r).out, rates(t, r).in), `relay ${r} forwards what it gets`);
  return 2 + relays.length;
}

/** Every region of a topology stays within its gateways' connections and caps; returns how many were checked. */
function checkCaps(t: Topology, m: PlannerModel): number {
  for (const r of t.regions) {
    const out = t.links.filter((l) => l.from === r.region);
    const inn = t.links.filter((l) => l.to === r.region);
    assert.ok(
      out.reduce((s, l) => s + l.connections, 0) <= 64 * r.gateways + 1e-6,
      "connections out",
    );
    assert.ok(
      inn.reduce((s, l) => s + l.gbps, 0) <= m.ingressCapGbps(r.region) * r.gateways * 1.001 + 1e-3,
      "ingress cap",
    );
    const egressUse = out.reduce((s, l) => s + l.gbps / m.egressCapGbps(r.region, l.to), 0);
    assert.ok(egressUse <= r.gateways * 1.001 + 1e-3, "egress cap");
  }
  return t.regions.length;
}

describe("planner", function () {
  this.timeout(120_000);
  let solver: MilpSolver;
  before(async () => {
    solver = await loadSolver();
  });

  describe("model", () => {
    it("estimates throughput from per-VM caps and distance", () => {
      const east = catalogueRegion("aws:us-east-1")!;
      const east2 = catalogueRegion("aws:us-east-2")!;
      const sydney = catalogueRegion("aws:ap-southeast-2")!;
      const near = estimateThroughputGbps(east, east2);
      const far = estimateThroughputGbps(east, sydney);
      assert.ok(near > 4 && near <= 5, `AWS caps egress at 5 Gbit/s: ${near}`);
      assert.ok(far < near * 0.7, "a path across the world is slower");
      assert.equal(
        estimateThroughputGbps(catalogueRegion("local:east")!, catalogueRegion("local:west")!),
        10,
      );
    });

    it("fits the estimate's caps and distance decay to a grid, robust to a few bad measurements", () => {
      // A grid made by known parameters over every ordered pair of cloud regions (AWS and GCP only,
      // so Azure's caps stay at their defaults), with every 50th measurement a tenth of the truth.
      const truth = {
        capGbps: { "aws>aws": 4, "aws>gcp": 3, "gcp>aws": 6, "gcp>gcp": 20 },
        distanceScaleKm: 12_000,
        distanceExponent: 1.5,
      };
      const regions = CATALOGUE.filter((r) => r.provider === "aws" || r.provider === "gcp");
      const grid: GridRow[] = [];
      for (const a of regions) {
        for (const b of regions) {
          if (a === b) continue;
          const gbps = estimateThroughputGbps(a, b, { ...DEFAULT_THROUGHPUT, ...truth });
          grid.push({ src: a.id, dst: b.id, gbps: grid.length % 50 === 7 ? gbps / 10 : gbps });
        }
      }
      assert.equal(grid.length, 53 * 52);
      const fit = fitThroughput(grid);
      for (const [pair, cap] of Object.entries(truth.capGbps))
        assert.ok(
          Math.abs(fit.capGbps[pair] / cap - 1) < 0.02,
          `${pair}: ${fit.capGbps[pair]} ≠ ${cap}`,
        );
      assert.equal(fit.capGbps["azure>azure"], DEFAULT_THROUGHPUT.capGbps["azure>azure"]);
      assert.ok(Math.abs(fit.distanceScaleKm / 12_000 - 1) < 0.05, `scale ${fit.distanceScaleKm}`);
      assert.ok(Math.abs(fit.distanceExponent - 1.5) < 0.05, `exponent ${fit.distanceExponent}`);
      let checked = 0;
      for (const [i, row] of grid.entries()) {
        if (i % 50 === 7) continue;
        const a = catalogueRegion(row.src)!;
        const b = catalogueRegion(row.dst)!;
        const e = estimateThroughputGbps(a, b, fit) / row.gbps - 1;
        assert.ok(Math.abs(e) < 0.03, `${row.src} → ${row.dst}: ${(100 * e).toFixed(1)}%`);
        checked++;
      }
      assert.equal(checked, grid.length - Math.ceil((grid.length - 7) / 50));
      assert.throws(() => fitThroughput([]), /needs a non-empty grid/);
    });

    it("parses Skyplane's grid and price CSVs, and explains bad ones", () => {
      const grid = parseGridCsv(
        "src_region,src_tier,src_instance_class,dst_region,dst_tier,dst_instance_class,connections,throughput_sent_bps,throughput_received_bps,cpu_utilization,success\n" +
          "aws:us-east-1,PREMIUM,m5.8xlarge,gcp:us-central1-a,PREMIUM,n2-standard-32,64,5e9,4.5e9,7,True\n" +
          "aws:us-east-1,PREMIUM,m5.8xlarge,gcp:us-east1-b,PREMIUM,n2-standard-32,64,5e9,4e9,7,False\n",
      );
      assert.deepEqual(grid, [{ src: "aws:us-east-1", dst: "gcp:us-central1-a", gbps: 4.5 }]);
      assert.deepEqual(parsePriceCsv("src,dest,cost\naws:us-east-1,gcp:us-central1-a,0.09\n"), [
        { src: "aws:us-east-1", dst: "gcp:us-central1-a", cost: 0.09 },
      ]);
      assert.throws(() => parseGridCsv("a,b\n1,2"), /no column src_region/);
      const tiers =
        "src_region,src_tier,dst_region,dst_tier,throughput_received_bps\n" +
        "aws:us-east-1,PREMIUM,gcp:us-east1-b,PREMIUM,4e9\n" +
        "aws:us-east-1,PREMIUM,gcp:us-east1-b,STANDARD,2e9\n" +
        "gcp:us-east1-b,STANDARD,aws:us-east-1,PREMIUM,x\n";
      assert.deepEqual(parseGridCsv(tiers, { tier: "PREMIUM" }), [
        { src: "aws:us-east-1", dst: "gcp:us-east1-b", gbps: 4 },
      ]);
      assert.throws(() => parseGridCsv(tiers), /grid line 4: bad throughput x/);
      assert.throws(() => parsePriceCsv("x,y\n"), /starts with "src,dest,cost"/);
      assert.throws(
        () => buildModel().throughputGbps("aws:us-east-1", "aws:mars-1"),
        /unknown region aws:mars-1: aws regions are/,
      );
    });
  });

  describe("direct", () => {
    it("plans N gateways per region and prices egress and VM time", () => {
      const t = planDirect(
        { src: A, dsts: [D], nVms: 2 },
        model({ [`${A}>${D}`]: 3 }, { [`${A}>${D}`]: 0.08 }),
      );
      assert.deepEqual(
        t.regions.map((r) => [r.region, r.gateways, r.vmClass]),
        [
          [A, 2, "m5.8xlarge"],
          [D, 2, "n2-standard-32"],
        ],
      );
      assert.equal(t.estimate.throughputGbps, 6);
      assert.equal(t.estimate.costPerGB.egress, 0.08);
      // 2 × $1.536 + 2 × $1.554 per hour over 6 Gbit/s = 0.75 GB/s
      assert.equal(
        t.estimate.costPerGB.vm,
        Number(((2 * 1.536 + 2 * 32 * 0.04856) / 3600 / 0.75).toPrecision(4)),
      );
      assert.equal(t.gateways.length, 4);
      assert.equal(t.edges.length, 4, "each source gateway reaches each destination gateway");
      assert.equal(t.estimate.optimal, undefined, "a direct plan is not optimised");
    });

    it("picks a smaller VM class when the vCPU quota forces it, and says so when nothing fits", () => {
      const m = model({}, {}, { [A]: 16 });
      assert.equal(planDirect({ src: A, dsts: [D] }, m).regions[0].vmClass, "m5.4xlarge");
      assert.equal(planDirect({ src: A, dsts: [D], nVms: 2 }, m).regions[0].vmClass, "m5.2xlarge");
      const tight = model({}, {}, { aws: 2 });
      assert.throws(
        () => planDirect({ src: A, dsts: [D] }, tight),
        /aws:us-east-1: a quota of 2 vCPUs fits no 1 gateway/,
      );
    });

    it("plans a same-region transfer as read → write, with no network and no egress", () => {
      const t = planDirect({ src: A, dsts: [A] }, model({}, {}));
      assert.deepEqual(t.links, []);
      assert.equal(t.estimate.costPerGB.egress, 0);
      assert.deepEqual(t.gateways[0].program.operators, [
        { op: "read_object_store", next: { op: "write_object_store" } },
      ]);
    });
  });

  describe("overlay", () => {
    // Direct A→D is slow (1 Gbit/s per pair) and cheap; the relay R is fast (5 and 5) but costs two hops.
    const slowDirect = { [`${A}>${D}`]: 1, [`${A}>${R}`]: 5, [`${R}>${D}`]: 5 };

    const table: Array<[string, Record<string, number>, { min: number; maxVms: number }, boolean]> =
      [
        [
          "no relay when the direct path meets the target cheaper",
          { [`${A}>${R}`]: 0.02, [`${R}>${D}`]: 0.09 },
          { min: 0.8, maxVms: 1 },
          false,
        ],
        [
          "a relay when the target needs it",
          { [`${A}>${R}`]: 0.02, [`${R}>${D}`]: 0.09 },
          { min: 3, maxVms: 1 },
          true,
        ],
        [
          "a relay when it is cheaper",
          { [`${A}>${D}`]: 0.12, [`${A}>${R}`]: 0.01, [`${R}>${D}`]: 0.05 },
          { min: 0.8, maxVms: 1 },
          true,
        ],
      ];
    for (const [what, prices, { min, maxVms }, relayed] of table) {
      it(`chooses ${what}`, () => {
        const t = planOverlay(
          {
            src: A,
            dsts: [D],
            objective: "cost",
            minThroughputGbps: min,
            maxVmsPerRegion: maxVms,
            relayCandidates: 2,
          },
          model(slowDirect, prices),
          solver,
        );
        assert.equal(
          t.regions.some((r) => r.region === R),
          relayed,
          JSON.stringify(t.links),
        );
        assert.ok(t.estimate.throughputGbps >= min - 1e-6);
        assert.equal(t.estimate.optimal, true, "HiGHS proves a plan this small optimal");
        assert.ok(t.estimate.optimalityGap! <= 1e-4, `gap ${t.estimate.optimalityGap}`);
      });
    }

    it("says what is achievable when a request cannot be met", () => {
      const m = model(slowDirect, {});
      assert.throws(
        () =>
          planOverlay(
            { src: A, dsts: [D], objective: "cost", minThroughputGbps: 500, maxVmsPerRegion: 2 },
            m,
            solver,
          ),
        (e: Error) =>
          e instanceof PlanError &&
          /no plan reaches 500 Gbit\/s .* the most achievable is \d+\.\d\d Gbit\/s/.test(e.message),
      );
      assert.throws(
        () =>
          planOverlay(
            { src: A, dsts: [D], objective: "throughput", maxCostPerGB: 0.01 },
            m,
            solver,
          ),
        /no plan .* costs at most \$0.01\/GB; the fastest plan costs \$0\.\d+\/GB/,
      );
    });

    describe("at HiGHS's time limit", () => {
      // Every cloud region as a relay candidate: a MILP of some 17,000 columns that HiGHS cannot
      // prove optimal in a few seconds, though it finds good plans long before.
      const world = buildModel();
      const src = "aws:us-east-1";
      const dst = "gcp:asia-east1-a";
      const everyRelay = world.regions.length;

      it("returns the best plan found so far, not optimal and with its gap, and the plan is valid", () => {
        const req = {
          src,
          dsts: [dst],
          objective: "throughput" as const,
          maxCostPerGB: 0.15,
          relayCandidates: everyRelay,
        };
        // How far HiGHS gets in a given time depends on the machine and its load: start well below
        // what a proof of optimality takes, and double the limit until HiGHS has found a plan.
        let t: Topology | undefined;
        const empty: number[] = [];
        for (let limit = 0.5; !t && limit <= 16; limit *= 2) {
          try {
            t = planOverlay({ ...req, timeLimitSeconds: limit }, world, solver);
          } catch (e) {
            assert.ok(e instanceof PlanError, String(e));
            assert.match(
              e.message,
              /was found within the [\d.]+ s time limit over 76 relay candidate/,
            );
            empty.push(limit);
          }
        }
        assert.ok(t, `no plan at limits ${empty.join(", ")} s`);
        assert.equal(t.estimate.optimal, false, JSON.stringify(t.estimate));
        assert.ok(
          t.estimate.optimalityGap! > 1e-4 && t.estimate.optimalityGap! < 1,
          `gap ${t.estimate.optimalityGap}`,
        );
        assert.ok(t.estimate.throughputGbps > 0);
        assert.ok(t.estimate.costPerGB.total <= 0.15 * 1.001, JSON.stringify(t.estimate));
        assert.equal(checkFlow(t), t.regions.length);
        assert.equal(checkCaps(t, world), t.regions.length);
        // The topology's own wiring is whole: every gateway's program binds and parses.
        const addresses = Object.fromEntries(
          t.gateways.map((g, i) => [g.id, { host: "10.0.0.1", port: 9000 + i }]),
        );
        for (const g of t.gateways) parseGatewayProgram(bindProgram(g.program, addresses));
        assert.ok(t.gateways.length >= 2);
      });

      it("says so when HiGHS stopped before it found any plan", () => {
        const direct = planDirect({ src, dsts: [dst] }, world);
        assert.throws(
          () =>
            planOverlay(
              {
                src,
                dsts: [dst],
                objective: "cost",
                minThroughputGbps: 3 * direct.estimate.throughputGbps,
                relayCandidates: everyRelay,
                timeLimitSeconds: 0.01,
              },
              world,
              solver,
            ),
          (e: Error) =>
            e instanceof PlanError &&
            /no plan reaching 9\.8\d* Gbit\/s from aws:us-east-1 to gcp:asia-east1-a was found within the 0\.01 s time limit over 76 relay candidate\(s\), nor proved impossible: allow more time/.test(
              e.message,
            ),
        );
      });

      it("reports a plan HiGHS proved optimal as such, with a gap of about 0", () => {
        const t = planOverlay(
          {
            src,
            dsts: [dst],
            objective: "throughput",
            maxCostPerGB: 0.15,
            relayCandidates: 2,
          },
          world,
          solver,
        );
        assert.equal(t.estimate.optimal, true);
        assert.ok(t.estimate.optimalityGap! <= 1e-4, `gap ${t.estimate.optimalityGap}`);
        assert.equal(checkFlow(t), t.regions.length);
      });
    });

    it("is deterministic: the same request gives the same bytes", () => {
      const req = {
        src: A,
        dsts: [D],
        objective: "cost" as const,
        minThroughputGbps: 2.5,
        relayCandidates: 2,
      };
      const a = JSON.stringify(planOverlay(req, model(slowDirect, {}), solver));
      const b = JSON.stringify(planOverlay(req, model(slowDirect, {}), solver));
      assert.equal(a, b);
    });

    it("lays out programs: read → send at the source, receive → send at relays, receive → write at the end", () => {
      const t = planOverlay(
        { src: A, dsts: [D], objective: "cost", minThroughputGbps: 3, maxVmsPerRegion: 1 },
        model(slowDirect, {}),
        solver,
      );
      const byRegion = (r: string) => t.gateways.filter((g) => g.region === r);
      assert.equal(byRegion(A)[0].program.operators[0].op, "read_object_store");
      assert.ok(ops(byRegion(R)[0].program.operators[0]).some((o) => o.op === "send"));
      assert.deepEqual(byRegion(D)[0].program.operators, [
        { op: "receive", next: { op: "write_object_store" } },
      ]);
      const addresses = Object.fromEntries(
        t.gateways.map((g, i) => [g.id, { host: "10.0.0.1", port: 9000 + i }]),
      );
      for (const g of t.gateways) parseGatewayProgram(bindProgram(g.program, addresses));
    });

    it("multicasts along a tree, sharing the long hop and fanning out with mux_and", () => {
      // B is far from A; R and D both near each other; one long hop A→R then R→D is cheaper.
      const grid = { [`${A}>${R}`]: 5, [`${A}>${D}`]: 5, [`${R}>${D}`]: 5, [`${D}>${R}`]: 5 };
      const prices = {
        [`${A}>${R}`]: 0.09,
        [`${A}>${D}`]: 0.09,
        [`${R}>${D}`]: 0.01,
        [`${D}>${R}`]: 0.01,
      };
      const t = planOverlay(
        { src: A, dsts: [R, D], objective: "cost", minThroughputGbps: 2 },
        model(grid, prices),
        solver,
      );
      const fromA = t.links.filter((l) => l.from === A);
      assert.equal(fromA.length, 1, `one copy leaves the source: ${JSON.stringify(t.links)}`);
      assert.ok(
        t.estimate.costPerGB.egress < 0.09 * 2,
        "cheaper than sending to both from the source",
      );
      const forwarding = t.gateways.filter(
        (g) => g.region !== A && ops(g.program.operators[0]).some((o) => o.op === "mux_and"),
      );
      assert.ok(forwarding.length > 0, "the middle destination writes and forwards (mux_and)");
    });

    describe("properties on random networks", () => {
      const regions = [A, B, R, D];
      const arbNet = fc.record({
        grid: fc.array(fc.double({ min: 0.2, max: 8, noNaN: true }), {
          minLength: 12,
          maxLength: 12,
        }),
        prices: fc.array(fc.double({ min: 0.005, max: 0.15, noNaN: true }), {
          minLength: 12,
          maxLength: 12,
        }),
        factor: fc.double({ min: 0.5, max: 3, noNaN: true }),
      });
      const build = (net: { grid: number[]; prices: number[] }) => {
        const g: Record<string, number> = {};
        const p: Record<string, number> = {};
        let i = 0;
        for (const s of regions) {
          for (const t of regions) {
            if (s === t) continue;
            g[`${s}>${t}`] = net.grid[i];
            p[`${s}>${t}`] = net.prices[i++];
          }
        }
        return { m: model(g, p), p };
      };
      it("conserves flow, respects caps, and costs at least the cheapest path's egress (cost objective)", () => {
        fc.assert(
          fc.property(arbNet, (net) => {
            const { m, p } = build(net);
            const direct = planDirect({ src: A, dsts: [D] }, m);
            const target = direct.estimate.throughputGbps * net.factor;
            let t: Topology;
            try {
              t = planOverlay(
                {
                  src: A,
                  dsts: [D],
                  objective: "cost",
                  minThroughputGbps: target,
                  maxVmsPerRegion: 4,
                },
                m,
                solver,
              );
            } catch (e) {
              assert.ok(e instanceof PlanError);
              return;
            }
            assert.equal(checkFlow(t), t.regions.length);
            assert.equal(checkCaps(t, m), t.regions.length);
            // The cheapest path A→D over the priced links (at most one relay here).
            const cheapest = Math.min(
              p[`${A}>${D}`],
              ...[B, R].map((x) => p[`${A}>${x}`] + p[`${x}>${D}`]),
            );
            assert.ok(
              t.estimate.costPerGB.egress >= cheapest * 0.999 - 1e-4,
              `egress ${t.estimate.costPerGB.egress} < ${cheapest}`,
            );
          }),
          { numRuns: 25, seed: 7 },
        );
      });

      it("is never slower than the direct plan at the same cost cap (throughput objective)", () => {
        fc.assert(
          fc.property(arbNet, (net) => {
            const { m } = build(net);
            const direct = planDirect({ src: A, dsts: [D] }, m);
            // Estimates are rounded to 4 significant digits: allow for it.
            const cap = direct.estimate.costPerGB.total * 1.002;
            const t = planOverlay(
              { src: A, dsts: [D], objective: "throughput", maxCostPerGB: cap },
              m,
              solver,
            );
            assert.ok(
              t.estimate.throughputGbps >= direct.estimate.throughputGbps * 0.999,
              `${t.estimate.throughputGbps} < ${direct.estimate.throughputGbps}`,
            );
            assert.ok(t.estimate.costPerGB.total <= cap * 1.001 + 1e-6);
            assert.equal(checkCaps(t, m), t.regions.length);
          }),
          { numRuns: 25, seed: 11 },
        );
      });
    });
  });
});
