import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { describePlan } from "../../cli/render";
import type { Topology } from "../../planner/topology";

const MAIN = path.join(__dirname, "..", "..", "cli", "main.js");
const plan = (args: string[]) =>
  spawnSync(process.execPath, [MAIN, "plan", ...args], { encoding: "utf8", timeout: 60_000 });

describe("cli: skyplane plan", function () {
  this.timeout(60_000);

  it("prints the route stack's topology as JSON and YAML, the same plan both ways", () => {
    const json = plan(["local:east", "local:west", "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const t = JSON.parse(json.stdout);
    assert.deepEqual(t.route, { src: "local:east", dsts: ["local:west"] });
    assert.deepEqual(
      t.gateways.map((g: { id: string }) => g.id),
      ["local-east-0", "local-west-0"],
    );
    const yaml = plan(["local:east", "local:west", "--format", "yaml"]);
    assert.deepEqual(parse(yaml.stdout), t);
  });

  it("says when the solver stopped at its time limit, and by how much the plan may fall short", () => {
    const out = plan(["local:east", "local:west", "--json"]);
    assert.equal(out.status, 0, out.stderr);
    const t = JSON.parse(out.stdout) as Topology;
    const solverLine = (text: string) => text.split("\n").filter((l) => l.startsWith("Solver:"));
    assert.deepEqual(solverLine(describePlan(t)), []);
    const stopped = { ...t, estimate: { ...t.estimate, optimal: false, optimalityGap: 0.0561 } };
    assert.deepEqual(solverLine(describePlan(stopped)), [
      "Solver:   stopped at its time limit; the best plan could be up to 5.6% better",
    ]);
    const proved = { ...t, estimate: { ...t.estimate, optimal: true, optimalityGap: 0 } };
    assert.deepEqual(solverLine(describePlan(proved)), []);
  });

  it("plans a cheaper overlay with a measured grid and price matrix, and draws it for Graphviz", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-plan-"));
    const header =
      "src_region,src_tier,src_instance_class,dst_region,dst_tier,dst_instance_class,connections,throughput_sent_bps,throughput_received_bps,cpu_utilization,success";
    const row = (a: string, b: string, gbps: number) =>
      `${a},PREMIUM,x,${b},PREMIUM,y,64,${gbps}e9,${gbps}e9,1,True`;
    const A = "aws:us-east-1";
    const R = "aws:us-east-2";
    const D = "gcp:europe-west1-b";
    fs.writeFileSync(
      path.join(dir, "grid.csv"),
      [
        header,
        row(A, D, 0.5),
        row(A, R, 5),
        row(R, D, 5),
        row(R, A, 5),
        row(D, A, 1),
        row(D, R, 1),
      ].join("\n"),
    );
    fs.writeFileSync(
      path.join(dir, "prices.csv"),
      ["src,dest,cost", `${A},${D},0.09`, `${A},${R},0.01`, `${R},${D},0.05`].join("\n"),
    );
    const args = [
      A,
      D,
      "--objective",
      "cost",
      "--min-throughput",
      "2",
      "--max-vms",
      "1",
      "--grid",
      path.join(dir, "grid.csv"),
      "--prices",
      path.join(dir, "prices.csv"),
    ];
    const json = plan([...args, "--format", "json"]);
    assert.equal(json.status, 0, json.stderr);
    const t = JSON.parse(json.stdout);
    assert.deepEqual(
      t.regions.map((r: { region: string }) => r.region),
      [A, R, D],
      "through the relay",
    );
    assert.ok(t.estimate.throughputGbps >= 2);
    const dot = plan([...args, "--format", "dot"]);
    assert.match(dot.stdout, /^digraph skyplane \{/);
    assert.match(dot.stdout, new RegExp(`"${A}" -> "${R}" \\[label="[\\d.]+ Gbit/s`));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("derives a network profile from a measured grid, and plans with it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-profile-"));
    const header =
      "src_region,src_tier,src_instance_class,dst_region,dst_tier,dst_instance_class,connections,throughput_sent_bps,throughput_received_bps,cpu_utilization,success";
    fs.writeFileSync(
      path.join(dir, "grid.csv"),
      [
        header,
        "aws:us-east-1,P,x,aws:eu-west-1,P,y,64,4e9,4e9,1,True",
        "aws:eu-west-1,P,x,aws:us-east-1,P,y,64,3e9,3e9,1,True",
      ].join("\n"),
    );
    const derive = spawnSync(
      process.execPath,
      [
        MAIN,
        "profile",
        "derive",
        "--grid",
        path.join(dir, "grid.csv"),
        "--map",
        "aws:us-east-1=local:east,aws:eu-west-1=local:west",
        "--scale",
        "0.01",
      ],
      { encoding: "utf8" },
    );
    assert.equal(derive.status, 0, derive.stderr);
    const profile = JSON.parse(derive.stdout);
    assert.deepEqual(profile.links, { "local:east>local:west": 40, "local:west>local:east": 30 });
    fs.writeFileSync(path.join(dir, "profile.json"), derive.stdout);
    const t = JSON.parse(
      plan(["local:east", "local:west", "--profile", path.join(dir, "profile.json"), "--json"])
        .stdout,
    );
    assert.equal(t.estimate.throughputGbps, 0.04, "the profile's link is the plan's grid");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a grid it cannot read, saying which file", () => {
    const r = plan(["aws:us-east-1", "gcp:us-central1-a", "--grid", "/nonexistent/grid.csv"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read the throughput grid \/nonexistent\/grid.csv/);
  });
});
