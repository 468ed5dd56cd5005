import * as assert from "node:assert/strict";
import { GATEWAY_PROGRAM_VERSION, parseGatewayProgram } from "../../planner/program";

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
