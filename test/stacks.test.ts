import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { AZURE_TEST_SETTINGS, registered, settled, testBundle, value } from "./helpers/mocks";
import { RULES } from "../policy/rules";
import { missingCloudSettings } from "../planner/cloud-settings";
import { sendTargets } from "../planner/program";
import { knownRegion } from "../planner/regions";
import { routeStackName, Topology } from "../planner/topology";

/*
 * The reviewed topologies in stacks/: each names its route's stack, is a well-formed topology, and is
 * exactly what `skyplane plan` plans today with the command in its first line (regenerate with
 * scripts/plan-stack.sh when the planner changes, and review the diff).
 */
describe("stacks: the reviewed example stacks", function () {
  this.timeout(60_000);
  const root = path.resolve(__dirname, "..", "..");
  const dir = path.join(root, "stacks");
  const files = fs.readdirSync(dir).filter((f) => /^Pulumi\..+\.yaml$/.test(f));

  it("has a local route and routes on each cloud", () => {
    const routes = files.map((f) => f.slice("Pulumi.".length, -".yaml".length));
    assert.ok(routes.includes("local-east--local-west"));
    for (const cloud of ["aws", "gcp", "azure"])
      assert.ok(
        routes.some((r) => r.includes(`${cloud}-`)),
        `a stack with ${cloud} gateways`,
      );
  });

  for (const file of files) {
    it(`${file}: names its route, is well formed, and is what the planner plans`, () => {
      const text = fs.readFileSync(path.join(dir, file), "utf8");
      const topology = parse(text).config["skyplane:topology"] as Topology;
      assert.equal(file, `Pulumi.${routeStackName(topology.route.src, topology.route.dsts)}.yaml`);
      const ids = new Set(topology.gateways.map((g) => g.id));
      for (const g of topology.gateways) {
        assert.equal(knownRegion(g.region).provider, g.provider, g.id);
        assert.equal(g.program.gatewayId, g.id);
        for (const t of sendTargets(g.program))
          assert.ok(ids.has(t), `${g.id} sends to ${t}, a gateway of the stack`);
      }
      // What a cloud stack still needs is operator-specific (client address, project), never committed here.
      if (topology.gateways.some((g) => g.provider !== "local"))
        assert.ok(missingCloudSettings(topology, undefined).includes("clientCidr"));
      const command = /^# skyplane plan (.+) --format yaml$/m.exec(text.split("\n")[0]);
      assert.ok(command, "the first line records the plan command");
      const planned = spawnSync(
        process.execPath,
        [
          path.join(root, "dist", "cli", "main.js"),
          "plan",
          ...command[1].split(" "),
          "--format",
          "json",
        ],
        { encoding: "utf8" },
      );
      assert.equal(planned.status, 0, planned.stderr);
      assert.deepEqual(
        topology,
        JSON.parse(planned.stdout),
        `regenerate: bash scripts/plan-stack.sh ${command[1]}`,
      );
    });

    if (!file.includes("local-"))
      it(`${file}: builds under mocks into resources that pass the guardrails`, async () => {
        const topology = parse(fs.readFileSync(path.join(dir, file), "utf8")).config[
          "skyplane:topology"
        ] as Topology;
        const { CloudDataplanes } = await import("../components/multicloud");
        const name = `stk${files.indexOf(file)}`;
        const dp = new CloudDataplanes(name, {
          topology,
          token: pulumi.secret("t"),
          key: pulumi.secret("k"),
          settings: {
            clientCidr: "203.0.113.7/32",
            buckets: {
              read: ["s3://src-bucket/", "gs://src-bucket/"],
              write: ["gs://dst-bucket/", "azure://acct/dst/"],
            },
            expireAt: Date.UTC(2026, 10, 27, 14),
            gcp: { project: "p" },
            azure: AZURE_TEST_SETTINGS,
          },
          bundle: testBundle(),
        });
        const gateways = await value(dp.gateways);
        const built = await settled(dp);
        assert.deepEqual(
          gateways.map((g) => g.id),
          topology.gateways.map((g) => g.id),
        );
        assert.equal(
          new Set(gateways.map((g) => g.host)).size,
          gateways.length,
          "every gateway has its own address",
        );
        const mine = registered.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
        assert.equal(mine.length, built, "every resource the stack builds is checked");
        const vms = mine.filter((r) =>
          /ec2\/instance:Instance|compute\/instance:Instance|compute:VirtualMachine/.test(r.type),
        );
        assert.equal(vms.length, topology.gateways.length, "one VM per gateway");
        const violations = mine.flatMap((r) =>
          RULES.flatMap((rule) =>
            rule.check({ type: r.type, props: r.inputs }).map((m) => `${r.name}: ${m}`),
          ),
        );
        assert.deepEqual(violations, []);
      });
  }
});
