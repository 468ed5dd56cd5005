import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { downCommands, networkTag, planNetwork, upCommands } from "../../../components/local";
import {
  deriveProfile,
  emulatedNetwork,
  NetworkProfile,
  parseProfile,
  profileModelOptions,
} from "../../../planner/profile";
import { buildModel } from "../../../planner/model";
import { planDirect } from "../../../planner/direct";
import { SkyplaneClient } from "../../../runner";
import { LocalStore, localBucketRoot } from "../../../stores";

const profile: NetworkProfile = {
  version: 1,
  regions: ["local:east", "local:west"],
  links: { "local:east>local:west": 200, "local:west>local:east": 150 },
  gateway: { egressMbps: 300, ingressMbps: 400 },
};

describe("components/local/network: the emulated WAN", function () {
  this.timeout(180_000);

  describe("plan (pure)", () => {
    const plan = planNetwork(
      profile,
      [
        { id: "e0", region: "local:east" },
        { id: "e1", region: "local:east" },
        { id: "w0", region: "local:west" },
      ],
      "abcde",
    );

    it("gives each region a router and each gateway a namespace, shaped at the profile's rates", () => {
      assert.deepEqual(plan.namespaces, [
        "skabcder0",
        "skabcder1",
        "skabcder0g0",
        "skabcder0g1",
        "skabcder1g0",
      ]);
      assert.deepEqual(plan.gateways, {
        e0: { ns: "skabcder0g0", ip: "10.213.1.2" },
        e1: { ns: "skabcder0g1", ip: "10.213.1.6" },
        w0: { ns: "skabcder1g0", ip: "10.213.2.2" },
      });
      const link = plan.veths.find(([a]) => a.ifname === "p1");
      assert.deepEqual(
        link?.map((e) => [e.ns, e.rateMbps]),
        [
          ["skabcder0", 200],
          ["skabcder1", 150],
        ],
      );
      const gw = plan.veths.find(([, b]) => b.ns === "skabcder0g0");
      assert.deepEqual(
        gw?.map((e) => e.rateMbps),
        [400, 300],
        "router side shapes ingress, gateway side egress",
      );
      for (const [a, b] of plan.veths)
        for (const e of [a, b]) assert.ok(e.ifname.length <= 15, e.ifname);
    });

    it("builds with ip and tc, and tears down exactly what it built", () => {
      const up = upCommands(plan).map((c) => c.join(" "));
      assert.ok(up.includes("ip netns add skabcder0g1"));
      assert.ok(
        up.some((c) =>
          /^tc -n skabcder0 qdisc replace dev p1 root tbf rate 200mbit burst \d+ latency 400ms$/.test(
            c,
          ),
        ),
      );
      assert.ok(
        up.includes("ip route replace 10.213.2.0/24 via 10.215.1.2"),
        "the host reaches west's gateways via west's router",
      );
      const down = downCommands(plan).map((c) => c.join(" "));
      assert.deepEqual(down, [
        "ip link del skabcdeh0",
        "ip link del skabcdeh1",
        ...plan.namespaces
          .slice()
          .reverse()
          .map((ns) => `ip netns del ${ns}`),
      ]);
    });

    it("falls back to unshaped loopback without root", () => {
      assert.equal(emulatedNetwork(profile, 1000), undefined);
      assert.deepEqual(emulatedNetwork(profile, 0), profile);
      assert.equal(emulatedNetwork(undefined, 0), undefined);
      assert.equal(
        new SkyplaneClient({ network: profile }).dataplane("local", "east", "local", "west")
          .network,
        process.getuid?.() === 0 ? "shaped" : "unshaped",
      );
    });

    it("checks profiles and derives them from measured grids", () => {
      assert.throws(
        () => parseProfile({ ...profile, regions: ["local:east", "aws:us-east-1"] }),
        /aws:us-east-1 is not a local region/,
      );
      assert.throws(
        () => parseProfile({ ...profile, links: { "local:east>local:mars": 5 } }),
        /not a pair of the profile's regions/,
      );
      const derived = deriveProfile(
        [
          { src: "aws:us-east-1", dst: "aws:eu-west-1", gbps: 4.31 },
          { src: "aws:eu-west-1", dst: "aws:us-east-1", gbps: 4.2 },
        ],
        { "aws:us-east-1": "local:east", "aws:eu-west-1": "local:west" },
        0.01,
        { egressGbps: 5, ingressGbps: 10 },
      );
      assert.deepEqual(derived.links, {
        "local:east>local:west": 43.1,
        "local:west>local:east": 42,
      });
      assert.deepEqual(derived.gateway, { egressMbps: 50, ingressMbps: 100 });
      // The profile is the planner's grid: what the plan predicts is what the links allow.
      const plan = planDirect(
        { src: "local:east", dsts: ["local:west"] },
        buildModel(profileModelOptions(derived)),
      );
      assert.equal(plan.estimate.throughputGbps, 0.0431);
    });
  });

  describe("through the engine, as root", function () {
    before(function () {
      if (process.getuid?.() !== 0) this.skip(); // namespaces and tc need root; the pure tests above still run
    });

    const list = (args: string[]) =>
      execFileSync("ip", args, { encoding: "utf8" })
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(/[\s:@]+/)[0])
        .sort();
    const hostLinks = () =>
      execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(": ")[1].split("@")[0])
        .sort();

    it("creates exactly the planned namespaces and links, copies byte for byte, and removes them all", async () => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-wan-test-"));
      const beforeNs = list(["netns", "list"]);
      const beforeLinks = hostLinks();
      try {
        const client = new SkyplaneClient({
          home,
          network: profile,
          transferConfig: { multipartThresholdBytes: 4 << 20, partSizeBytes: 2 << 20 },
        });
        const src = await LocalStore.createBucket(
          "wan-a",
          localBucketRoot({ home }, "wan-a"),
          "local:east",
        );
        const dst = await LocalStore.createBucket(
          "wan-b",
          localBucketRoot({ home }, "wan-b"),
          "local:west",
        );
        const objects = [crypto.randomBytes(7 << 20), crypto.randomBytes(1000), Buffer.alloc(0)];
        for (const [i, o] of objects.entries()) await src.put(`d/${i}`, o);
        const dp = client.dataplane("local", "east", "local", "west", { nVms: 2 });
        assert.equal(dp.network, "shaped");
        const expected = planNetwork(profile, dp.topology.gateways, networkTag(dp.stackName));
        await dp.autoDeprovision(async () => {
          await dp.provision();
          assert.deepEqual(
            list(["netns", "list"]).filter((n) => !beforeNs.includes(n)),
            [...expected.namespaces].sort(),
          );
          assert.deepEqual(
            hostLinks().filter((l) => !beforeLinks.includes(l)),
            ["sk" + networkTag(dp.stackName) + "h0", "sk" + networkTag(dp.stackName) + "h1"],
          );
          // Gateways listen inside their namespaces, not on the host.
          const runDir = path.join(home, "run", dp.stackName);
          for (const f of fs.readdirSync(runDir)) {
            const pid = JSON.parse(fs.readFileSync(path.join(runDir, f), "utf8")).pid;
            assert.notEqual(
              fs.readlinkSync(`/proc/${pid}/ns/net`),
              fs.readlinkSync("/proc/self/ns/net"),
              `gateway ${pid} is in its own namespace`,
            );
          }
          dp.queueCopy("local://wan-a/d/", "local://wan-b/d/", { recursive: true });
          const [result] = await dp.run();
          assert.equal(result.objects, 3);
        });
        for (const [i, o] of objects.entries())
          assert.ok((await dst.get(`d/${i}`)).equals(o), `object ${i}`);
      } finally {
        fs.rmSync(home, { recursive: true, force: true });
      }
      assert.deepEqual(
        list(["netns", "list"]),
        beforeNs,
        "every namespace it made is gone, and only those",
      );
      assert.deepEqual(hostLinks(), beforeLinks, "the host's links are as they were");
    });
  });
});
