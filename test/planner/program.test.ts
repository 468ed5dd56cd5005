import * as assert from "node:assert/strict";
import { planDirect } from "../../planner/direct";
import { buildModel } from "../../planner/model";
import {
  bindProgram,
  encryptedInbound,
  GATEWAY_PROGRAM_VERSION,
  GatewayProgram,
  parseGatewayProgram,
} from "../../planner/program";
import { grantTopology, Topology } from "../../planner/topology";

const send = {
  op: "send",
  target: { gatewayId: "w", host: "127.0.0.1", port: 9000 },
  connections: 8,
  compress: "zstd",
  encrypt: true,
};

describe("planner/program", () => {
  it("accepts source, relay and destination programs", () => {
    for (const operators of [
      [
        {
          op: "read_object_store",
          bucket: "local://a",
          next: { op: "mux_or", children: [send, send] },
        },
      ],
      [{ op: "receive", next: send }],
      [
        {
          op: "receive",
          next: {
            op: "mux_and",
            children: [{ op: "write_object_store", bucket: "local://b" }, send],
          },
        },
      ],
    ]) {
      const p = {
        version: GATEWAY_PROGRAM_VERSION,
        gatewayId: "g",
        region: "local:east",
        operators,
      };
      assert.deepEqual(parseGatewayProgram(p), p);
    }
  });

  it("names the first thing wrong with a program", () => {
    const base = { version: 1, gatewayId: "g", region: "local:east" };
    const cases: Array<[unknown, RegExp]> = [
      [{ ...base, version: 2, operators: [] }, /version 2 is not 1/],
      [
        { ...base, operators: [{ op: "teleport" }] },
        /operators\[0\]\.op: unknown operator "teleport"/,
      ],
      [
        { ...base, operators: [{ op: "receive", next: { ...send, connections: 0 } }] },
        /operators\[0\]\.next\.connections/,
      ],
      [
        { ...base, operators: [{ op: "receive", next: { ...send, compress: "gzip" } }] },
        /compress: none or zstd/,
      ],
      [
        { ...base, operators: [{ op: "receive", next: { op: "mux_or", children: [] } }] },
        /children: must be a non-empty list/,
      ],
      [
        { ...base, operators: [{ op: "write_object_store", bucket: "local://b" }] },
        /roots must be/,
      ],
      [
        { ...base, operators: [{ op: "read_object_store", bucket: "nobucket", next: send }] },
        /bucket: must be a bucket URI/,
      ],
      [
        {
          ...base,
          operators: [
            { op: "receive", next: send },
            { op: "receive", next: send },
          ],
        },
        /more than one receive/,
      ],
    ];
    for (const [program, message] of cases)
      assert.throws(() => parseGatewayProgram(program), message);
  });
});

describe("planner/program: grants (issue 12)", () => {
  it("grants a topology's programs the dataplane's buckets and tells receivers whether senders encrypt", () => {
    for (const encrypt of [true, false]) {
      const planned = planDirect(
        { src: "local:east", dsts: ["local:west"], encrypt },
        buildModel(),
      );
      const granted = grantTopology(planned, {
        read: ["local://b", "local://a"],
        write: ["local://d"],
      });
      assert.equal(granted.gateways.length, planned.gateways.length);
      assert.ok(granted.gateways.length >= 2);
      for (const g of granted.gateways) {
        parseGatewayProgram(bindProgram(g.program, addressesOf(granted)));
        const root = g.program.operators[0];
        if (root.op === "read_object_store")
          assert.deepEqual(root.buckets, ["local://a", "local://b"]);
        else if (root.op === "receive") {
          assert.equal(root.encrypted, encrypt);
          assert.deepEqual(root.next.op === "write_object_store" && root.next.buckets, [
            "local://d",
          ]);
        } else assert.fail(`unexpected root ${root.op}`);
      }
      assert.equal(
        JSON.stringify(planned).includes('"buckets"') ||
          JSON.stringify(planned).includes('"encrypted"'),
        false,
        "the planned topology (what a pull request reviews) is unchanged",
      );
    }
  });

  it("finds which gateways receive encrypted frames, and refuses malformed grants", () => {
    const programs = [
      {
        version: GATEWAY_PROGRAM_VERSION,
        gatewayId: "s",
        region: "r",
        operators: [
          {
            op: "read_object_store",
            next: {
              op: "mux_or",
              children: [
                send,
                { ...send, target: { ...send.target, gatewayId: "v" }, encrypt: false },
              ],
            },
          },
        ],
      },
    ] as unknown as GatewayProgram[];
    assert.deepEqual(encryptedInbound(programs), { w: true, v: false });
    const bad = {
      version: GATEWAY_PROGRAM_VERSION,
      gatewayId: "g",
      region: "local:east",
      operators: [{ op: "read_object_store", buckets: ["nope"], next: send }],
    };
    assert.throws(
      () => parseGatewayProgram(bad),
      /operators\[0\]\.buckets: must be a list of bucket URIs/,
    );
    const enc = { ...bad, operators: [{ op: "receive", encrypted: "yes", next: send }] };
    assert.throws(
      () => parseGatewayProgram(enc),
      /operators\[0\]\.encrypted: must be true or false/,
    );
  });
});

/** Loopback addresses for every gateway of a topology, for binding. */
function addressesOf(t: Topology): Record<string, { host: string; port: number }> {
  return Object.fromEntries(
    t.gateways.map((g, i) => [g.id, { host: "127.0.0.1", port: 9000 + i }]),
  );
}
