import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  addressBlock,
  downCommands,
  gatewaySubnet,
  hostConflicts,
  LocalNetworkProvider,
  NetworkPlan,
  networkTag,
  planNetwork,
  upCommands,
} from "../../../components/local";
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
      // abcde's block: slot 0xabcde % 1024 = 222 → 10.230.240.0/21.
      assert.equal(plan.block, "10.230.240.0/21");
      assert.deepEqual(plan.gateways, {
        e0: { ns: "skabcder0g0", ip: "10.230.241.2" },
        e1: { ns: "skabcder0g1", ip: "10.230.241.6" },
        w0: { ns: "skabcder1g0", ip: "10.230.242.2" },
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
        up.includes("ip route add 10.230.242.0/24 via 10.230.240.6"),
        "the host reaches west's gateways via west's router, adding its route, never replacing one",
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

    /** Every address and route destination a plan puts anywhere. */
    const addressesOf = (p: NetworkPlan) => [
      ...p.veths.flatMap(([a, b]) => [a.cidr, b.cidr]),
      ...p.routes.filter((r) => r.to !== "default").flatMap((r) => [r.to, r.via]),
      ...Object.values(p.gateways).map((g) => g.ip),
    ];
    const within = (cidr: string, block: string) => {
      const n = (ip: string) => ip.split(".").reduce((v, o) => v * 256 + Number(o), 0);
      const [base, len] = block.split("/");
      return (
        Math.floor(n(cidr.split("/")[0]) / 2 ** (32 - Number(len))) ===
        Math.floor(n(base) / 2 ** (32 - Number(len)))
      );
    };

    it("keeps each stack in a block of its own, so that two stacks' networks share no address", () => {
      const all = [
        "local:east",
        "local:west",
        "local:north",
        "local:south",
        "local:central",
        "local:client",
      ];
      const wide: NetworkProfile = { ...profile, regions: all, links: {} };
      const many = all.flatMap((region, r) =>
        [...Array(r === 0 ? 63 : 2).keys()].map((i) => ({ id: `${r}-${i}`, region })),
      );
      const tags = ["abcde", networkTag("route-a"), networkTag("route-b")];
      const plans = tags.map((t) => planNetwork(wide, many, t));
      assert.equal(new Set(plans.map((p) => p.block)).size, 3);
      for (const p of plans) {
        const addresses = addressesOf(p);
        assert.ok(addresses.length > 2 * many.length, "every gateway's link and route looked at");
        for (const a of addresses) assert.ok(within(a, p.block as string), `${a} in ${p.block}`);
        for (const q of plans)
          if (q !== p)
            for (const a of addresses)
              assert.ok(!within(a, q.block as string), `${a} not in ${q.block}`);
        assert.equal(
          new Set(addresses.filter((a) => a.endsWith("/30"))).size,
          addresses.filter((a) => a.endsWith("/30")).length,
          "no address twice",
        );
      }
      assert.equal(gatewaySubnet("abcde", 5), "10.230.246.0/24");
      // 1,024 blocks, all different, all in 10.224.0.0/11.
      const blocks = [...Array(1024).keys()].map((slot) => addressBlock(slot.toString(16)).cidr);
      assert.equal(new Set(blocks).size, 1024);
      assert.ok(blocks.every((b) => within(b, "10.224.0.0/11") && b.endsWith("/21")));
      assert.throws(
        () => planNetwork({ ...wide, regions: [...all, "local:east"] }, many, "abcde"),
        /at most 6 regions/,
      );
    });

    it("finds what on the host already holds the block, and nothing when it is free", () => {
      const other = planNetwork(profile, [{ id: "x", region: "local:west" }], "abcde");
      const addrLines = [
        "1: lo    inet 127.0.0.1/8 scope host lo",
        "2: eth0    inet 192.168.1.5/24 brd 192.168.1.255 scope global eth0",
        "9: skabcdeh0    inet 10.230.240.1/30 scope global skabcdeh0",
      ].join("\n");
      const routeLines = [
        "default via 192.168.1.1 dev eth0",
        "10.230.241.0/24 via 10.230.240.2 dev skabcdeh0",
        "10.224.0.0/24 dev somewhere",
      ].join("\n");
      // The same block under another tag (same slot): everything of the first stack's is found.
      const same = planNetwork(
        profile,
        [{ id: "y", region: "local:west" }],
        (0xabcde + 1024).toString(16),
      );
      assert.equal(same.block, other.block);
      assert.deepEqual(hostConflicts(same, addrLines, routeLines), [
        "9: skabcdeh0    inet 10.230.240.1/30 scope global skabcdeh0",
        "10.230.241.0/24 via 10.230.240.2 dev skabcdeh0",
      ]);
      // A wider route covering the block counts too; a neighbour's does not.
      assert.deepEqual(
        hostConflicts(same, "", "10.224.0.0/11 dev wide\n10.230.248.0/21 dev next"),
        ["10.224.0.0/11 dev wide"],
      );
      const free = planNetwork(profile, [{ id: "z", region: "local:west" }], networkTag("free"));
      assert.notEqual(free.block, other.block);
      assert.deepEqual(hostConflicts(free, addrLines, routeLines), []);
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

    it("builds two stacks' networks at once, each reached through its own router, and refuses a third on a block in use", async () => {
      const gws = [
        { id: "e0", region: "local:east" },
        { id: "w0", region: "local:west" },
      ];
      const tagA = crypto.randomBytes(3).toString("hex").slice(0, 5);
      const tagB = (parseInt(tagA, 16) ^ 0x1).toString(16).padStart(5, "0"); // the next slot
      const tagC = ((parseInt(tagA, 16) + 1024) % 0x100000).toString(16).padStart(5, "0"); // A's slot
      const [a, b, c] = [tagA, tagB, tagC].map((t) => planNetwork(profile, gws, t));
      assert.notEqual(a.block, b.block);
      assert.equal(c.block, a.block);
      const provider = new LocalNetworkProvider();
      const routeOf = (ip: string) =>
        execFileSync("ip", ["route", "get", ip], { encoding: "utf8" });
      try {
        await provider.create({ plan: a });
        await provider.create({ plan: b });
        for (const p of [a, b])
          for (const [id, g] of Object.entries(p.gateways))
            assert.match(routeOf(g.ip), new RegExp(`dev sk${p.tag}h`), `${id} of ${p.tag}`);
        await assert.rejects(
          provider.create({ plan: c }),
          (err: Error) =>
            err.message.includes(`${a.block} are already in use`) &&
            err.message.includes(`sk${tagA}h0`),
        );
        assert.ok(
          !list(["netns", "list"]).some((n) => n.startsWith(`sk${tagC}`)),
          "nothing of the third made",
        );
        for (const g of Object.values(a.gateways))
          assert.match(routeOf(g.ip), new RegExp(`dev sk${tagA}h`), "the first keeps its routes");
      } finally {
        await provider.delete("", { plan: b });
        await provider.delete("", { plan: a });
      }
      const mine = (n: string) => [tagA, tagB, tagC].some((t) => n.startsWith(`sk${t}`));
      assert.deepEqual(list(["netns", "list"]).filter(mine), [], "their namespaces are gone");
      assert.deepEqual(hostLinks().filter(mine), [], "and their host links");
    });

    it("creates exactly the planned namespaces and links, copies byte for byte, and removes them all", async () => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-wan-test-"));
      const beforeNs = list(["netns", "list"]);
      const beforeLinks = hostLinks();
      let stackName = "";
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
        stackName = dp.stackName;
        assert.equal(dp.network, "shaped");
        const expected = planNetwork(profile, dp.topology.gateways, networkTag(dp.stackName));
        await dp.autoDeprovision(async () => {
          await dp.provision();
          // Only this stack's names: other stacks (a benchmark, another run) may come and go meanwhile.
          const ours = (n: string) => n.startsWith(`sk${expected.tag}`);
          assert.deepEqual(
            list(["netns", "list"]).filter((n) => !beforeNs.includes(n) && ours(n)),
            [...expected.namespaces].sort(),
          );
          assert.deepEqual(
            hostLinks().filter((l) => !beforeLinks.includes(l) && ours(l)),
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
      const tag = `sk${networkTag(stackName)}`;
      assert.deepEqual(
        list(["netns", "list"]).filter((n) => n.startsWith(tag)),
        [],
        "every namespace it made is gone",
      );
      assert.deepEqual(
        beforeNs.filter((n) => !list(["netns", "list"]).includes(n)),
        [],
        "and only those",
      );
      assert.deepEqual(
        hostLinks().filter((l) => l.startsWith(tag)),
        [],
        "its host links are gone",
      );
      assert.deepEqual(
        beforeLinks.filter((l) => !hostLinks().includes(l)),
        [],
        "and no other",
      );
    });
  });
});
