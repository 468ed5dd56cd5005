import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { SkyplaneClient, TrackerEvent, UserError } from "../../runner";
import { Engine } from "../../runner/engine";
import { LocalStore, localBucketRoot } from "../../stores";

/*
 * The two examples of Skyplane's documentation, in TypeScript, against the local cloud: gateways are
 * real processes provisioned as a Pulumi stack by the real engine.
 */
describe("api: SkyplaneClient on the local cloud", function () {
  this.timeout(180_000);
  let home: string;
  let client: SkyplaneClient;
  let east: LocalStore;
  let west: LocalStore;

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-api-"));
    client = new SkyplaneClient({
      logDir: path.join(home, "custom-logs"),
      home,
      transferConfig: { multipartThresholdBytes: 8 << 20, partSizeBytes: 4 << 20 },
    });
    east = await LocalStore.createBucket(
      "east-bucket",
      localBucketRoot({ home }, "east-bucket"),
      "local:east",
    );
    west = await LocalStore.createBucket(
      "west-bucket",
      localBucketRoot({ home }, "west-bucket"),
      "local:west",
    );
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  async function stackResources(name: string): Promise<string[]> {
    const engine = await Engine.open({ home });
    const stack = await engine.stack(name, async () => ({}));
    return ((await stack.exportStack()).deployment.resources ?? []).map(
      (r: { type: string }) => r.type,
    );
  }

  it("copies one object with client.copy, and tears the gateways down", async () => {
    const data = crypto.randomBytes(3 << 20);
    await east.put("x.txt", data);
    const result = await client.copy({
      src: "local://east-bucket/x.txt",
      dst: "local://west-bucket/x.txt",
      recursive: false,
    });
    assert.equal(result.objects, 1);
    assert.equal(result.bytes, data.length);
    assert.ok((await west.get("x.txt")).equals(data));
    assert.deepEqual(
      await stackResources("local-east--local-west"),
      [],
      "the stack is empty after copy",
    );
    const logs = fs.readdirSync(path.join(home, "custom-logs", "local-east--local-west")).sort();
    assert.deepEqual(
      logs,
      ["local-east-0.log", "local-west-0.log"],
      "gateway logs go to the client's logDir",
    );
  });

  it("runs a dataplane session: autoDeprovision, provision, queueCopy, runAsync, queryBytesRemaining", async () => {
    const objects = Array.from(
      { length: 20 },
      (_, i) => [`data/${i}.bin`, crypto.randomBytes(i * 100_000 + 1)] as const,
    );
    for (const [k, v] of objects) await east.put(k, v);
    await east.put("data/big.bin", crypto.randomBytes(10 << 20)); // 3 parts
    let pids: number[] = [];
    const seen: TrackerEvent["type"][] = [];
    const remaining: number[] = [];
    {
      const dp = client.dataplane("local", "east", "local", "west", { nVms: 2 });
      await using _ = dp.autoDeprovision();
      await dp.provision();
      assert.equal(dp.topology.gateways.length, 4, "2 gateways in each region");
      pids = fs
        .readdirSync(path.join(home, "run", dp.stackName))
        .map(
          (f) => JSON.parse(fs.readFileSync(path.join(home, "run", dp.stackName, f), "utf8")).pid,
        );
      assert.equal(pids.length, 4);
      dp.queueCopy("local://east-bucket/data/", "local://west-bucket/copy/", { recursive: true });
      const tracker = dp.runAsync();
      tracker.on((e) => seen.push(e.type));
      while (!tracker.isComplete()) {
        const r = tracker.queryBytesRemaining();
        if (r !== undefined) remaining.push(r);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const [result] = await tracker.join();
      assert.equal(result.objects, 21);
      assert.equal(tracker.queryBytesRemaining(), 0);
      assert.equal(tracker.queryBytesDispatched(), result.bytes);
    }
    for (const [k, v] of objects)
      assert.ok((await west.get(k.replace("data/", "copy/"))).equals(v), k);
    assert.ok(
      remaining.length > 0 && remaining.every((r, i) => i === 0 || r <= remaining[i - 1]),
      "remaining only falls",
    );
    assert.deepEqual([seen[0], seen.at(-1)], ["planned", "done"]);
    for (const pid of pids) assert.equal(liveStartTime(pid), undefined, `gateway ${pid} stopped`);
    assert.deepEqual(
      await stackResources("local-east--local-west"),
      [],
      "autoDeprovision destroyed the stack",
    );
  });

  it("refuses bad input before provisioning anything", async () => {
    await assert.rejects(
      client.copy({ src: "local://no-such-bucket/x", dst: "local://west-bucket/x" }),
      (e: Error) =>
        e instanceof UserError && /does not exist: create it with 'skyplane mb/.test(e.message),
    );
    await assert.rejects(
      client.copy({ src: "local://east-bucket/missing.txt", dst: "local://west-bucket/" }),
      /no object local:\/\/east-bucket\/missing.txt/,
    );
    await assert.rejects(
      client.copy({ src: "local://east-bucket/data", dst: "local://west-bucket/" }),
      /it is a prefix: add -r/,
    );
    assert.throws(
      () => client.dataplane("local", "nowhere", "local", "west"),
      /unknown region local:nowhere: the local cloud has local:central, local:client, local:east/,
    );
    assert.throws(
      () => client.dataplane("local", "east", "aws", "us-east-1"),
      /a route cannot mix the local cloud \(local:east\) with AWS, GCP or Azure/,
    );
    assert.ok(!fs.existsSync(path.join(home, "run", "local-east--local-nowhere")));
  });
});
