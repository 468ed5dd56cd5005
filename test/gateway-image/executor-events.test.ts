import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EVENT_RETAIN_MS, GatewayExecutor } from "../../gateway-image/daemon/executor";
import { GATEWAY_PROGRAM_VERSION, type ChunkRequest, GatewayProgram } from "../../planner/program";
import { LocalStore, localBucketRoot } from "../../stores";

/*
 * Issue 13, item 5: a gateway that has moved a million chunks does not hold a million outcomes. What a
 * status call read is kept EVENT_RETAIN_MS for other readers, then dropped with its chunk id.
 */

describe("gateway-image: chunk outcomes held only until read (issue 13)", function () {
  this.timeout(60_000);
  let home: string;
  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-events-"));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("drops outcomes read EVENT_RETAIN_MS ago, keeps the unread ones, and takes a dropped id again", async () => {
    const src = await LocalStore.createBucket(
      "src",
      localBucketRoot({ home }, "src"),
      "local:east",
    );
    await LocalStore.createBucket("dst", localBucketRoot({ home }, "dst"), "local:east");
    const program = {
      version: GATEWAY_PROGRAM_VERSION,
      gatewayId: "east-0",
      region: "local:east",
      operators: [
        {
          op: "read_object_store",
          buckets: ["local://src"],
          next: { op: "write_object_store", buckets: ["local://dst"] },
        },
      ],
    } as unknown as GatewayProgram;
    const executor = new GatewayExecutor(program, { token: "t0ken", stores: { home } });
    const chunk = (key: string): ChunkRequest => ({
      id: crypto.randomBytes(16).toString("hex"),
      srcKey: key,
      dstKey: key,
      offset: 0,
      length: 3,
      objectSize: 3,
      srcBucket: "local://src",
      dstBuckets: { "local:east": "local://dst" },
    });
    const settled = async (n: number) => {
      while (executor.events.length < n) await new Promise((r) => setImmediate(r));
    };
    for (const k of ["a", "b", "c", "d"]) await src.put(k, Buffer.from(k.repeat(3)));
    const first = ["a", "b", "c"].map(chunk);
    assert.equal(executor.accept(first), 3);
    await settled(3);

    const t0 = Date.now();
    const read = executor.eventsAfter(0, 2, t0);
    assert.deepEqual(
      read.events.map((e) => [e.seq, e.state]),
      [
        [1, "done"],
        [2, "done"],
      ],
    );
    assert.equal(read.cursor, 2);
    // Another reader within the retention period still sees them all.
    assert.equal(executor.eventsAfter(0, 10, t0 + EVENT_RETAIN_MS - 1).events.length, 3);
    // Past it, what was read is dropped: a reader from the start gets what is left, seq unchanged.
    const later = executor.eventsAfter(0, 10, t0 + EVENT_RETAIN_MS);
    assert.deepEqual(
      later.events.map((e) => e.seq),
      [3],
    );
    assert.equal(later.cursor, 3);
    assert.equal(executor.events.length, 1, "only the outcome read last is held");
    // A reader's cursor goes on as before, and new outcomes number after the dropped ones.
    const d = chunk("d");
    executor.accept([d]);
    await settled(2);
    assert.deepEqual(
      executor.eventsAfter(3, 10, t0 + EVENT_RETAIN_MS).events.map((e) => [e.seq, e.id]),
      [[4, d.id]],
    );
    // While its outcome is held, a resent request is taken without being queued twice.
    assert.equal(executor.accept([d]), 1);
    // Dropped ids are forgotten (the set that deduplicates resent requests does not grow either): the
    // same request is queued and moved again.
    executor.eventsAfter(4, 10, t0 + 3 * EVENT_RETAIN_MS);
    assert.equal(executor.events.length, 0);
    executor.accept([first[0]]);
    await settled(1);
    assert.deepEqual(
      executor.events.map((e) => [e.seq, e.id, e.state]),
      [[5, first[0].id, "done"]],
    );
    await executor.close();
  });
});
