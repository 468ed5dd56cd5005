import * as assert from "node:assert/strict";
import { networkTag, planNetwork } from "../../components/local/network";
import { routeStackName } from "../../planner/topology";
import {
  routerNamespace,
  storageAddress,
  storageNamespace,
  storagePlan,
  wiringPlan,
} from "../../bench/peers-net";

describe("bench/peers-net: the WAN case's storage namespaces", () => {
  const stack = routeStackName("local:east", ["local:west"]);

  it("gives each region's emulator a namespace and one address, on links of its own address range", () => {
    const plan = storagePlan(2);
    assert.deepEqual(plan.namespaces, [storageNamespace(0), storageNamespace(1)]);
    assert.equal(plan.veths.length, 2);
    plan.veths.forEach(([host, store], r) => {
      assert.equal(host.ns, undefined);
      assert.equal(store.ns, storageNamespace(r));
      assert.equal(store.cidr, `${storageAddress(r)}/30`);
    });
    const ends = [...plan.veths, ...wiringPlan(stack, 2).veths].flat();
    assert.equal(ends.length, 8);
    for (const end of ends) {
      assert.match(end.cidr, /^10\.216\.\d+\.\d+\/30$/);
      assert.ok(end.ifname.length <= 15, end.ifname);
    }
    assert.equal(new Set(ends.map((e) => e.cidr)).size, ends.length);
  });

  it("wires each region's router, as the local cloud names it, to that region's emulator and back", () => {
    const gateways = [
      { id: "east-0", region: "local:east" },
      { id: "west-0", region: "local:west" },
    ];
    const cloud = planNetwork(
      {
        version: 1,
        regions: ["local:east", "local:west"],
        links: { "local:east>local:west": 100 },
        gateway: { egressMbps: 100, ingressMbps: 100 },
      },
      gateways,
      networkTag(stack),
    );
    const wiring = wiringPlan(stack, 2);
    assert.deepEqual([routerNamespace(stack, 0), routerNamespace(stack, 1)], cloud.routers);
    assert.deepEqual(
      wiring.veths.map(([router]) => router.ns),
      cloud.routers,
    );
    cloud.routers.forEach((router, r) => {
      const subnet = `${cloud.gateways[gateways[r].id].ip.split(".").slice(0, 3).join(".")}.0/24`;
      assert.ok(
        wiring.routes.some((x) => x.ns === router && x.to === `${storageAddress(r)}/32`),
        `${router} routes to its emulator`,
      );
      assert.ok(
        wiring.routes.some((x) => x.ns === storageNamespace(r) && x.to === subnet),
        `${storageNamespace(r)} routes back to ${subnet}`,
      );
    });
    assert.deepEqual(wiring.namespaces, [], "the routers are the route's own: none is created");
  });
});
