import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SkyplaneClient } from "../../runner";
import { Engine } from "../../runner/engine";
import { LocalStore, localBucketRoot } from "../../stores";

/** Pid of each gateway of `stack` by file name, from the files they write once they listen. */
function gatewayPids(home: string, stack: string): Record<string, number> {
  const dir = path.join(home, "run", stack);
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")).pid as number]),
  );
}

describe("api: gateways are granted the buckets of the queued jobs (issue 12, item 2)", function () {
  this.timeout(240_000);
  let home: string;
  let client: SkyplaneClient;
  const stack = "local-central--local-west";

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-grants-"));
    client = new SkyplaneClient({ home });
  });
  after(async () => {
    await client
      .dataplane("local", "central", "local", "west")
      .deprovision()
      .catch(() => undefined);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("brings the stack up again for jobs queued after provision() on other buckets, and only then", async () => {
    const ctx = { home };
    const a = await LocalStore.createBucket(
      "src-a",
      localBucketRoot(ctx, "src-a"),
      "local:central",
    );
    const b = await LocalStore.createBucket(
      "src-b",
      localBucketRoot(ctx, "src-b"),
      "local:central",
    );
    const dst = await LocalStore.createBucket("dst", localBucketRoot(ctx, "dst"), "local:west");
    await a.put("x", Buffer.from("from a"));
    await b.put("y", Buffer.from("from b"));
    const dp = client.dataplane("local", "central", "local", "west");
    await using _ = dp.autoDeprovision();
    dp.queueCopy("local://src-a/x", "local://dst/x");
    await dp.provision();
    const engine = await Engine.open({ home });
    const grants = async () =>
      JSON.parse(
        (await (await engine.stack(stack, async () => ({}))).getConfig("skyplane:buckets")).value,
      );
    assert.deepEqual(await grants(), { read: ["local://src-a"], write: ["local://dst"] });
    const first = gatewayPids(home, stack);
    assert.equal((await dp.run()).length, 1);
    assert.deepEqual(gatewayPids(home, stack), first, "covered: the same gateways");

    // The README's order: provision() first, then queue a copy from a bucket not granted yet.
    dp.queueCopy("local://src-b/y", "local://dst/y");
    const [result] = await dp.run();
    assert.equal(result.objects, 1);
    assert.equal((await dst.get("y")).toString(), "from b");
    assert.equal((await dst.get("x")).toString(), "from a");
    assert.deepEqual(await grants(), {
      read: ["local://src-a", "local://src-b"],
      write: ["local://dst"],
    });
    // The source gateway restarted with its new program; the destination's did not change.
    const second = gatewayPids(home, stack);
    assert.deepEqual(Object.keys(second), Object.keys(first));
    const source = Object.keys(first).find((f) => f.includes("central")) as string;
    const dest = Object.keys(first).find((f) => f.includes("west")) as string;
    assert.ok(source && dest, Object.keys(first).join(", "));
    assert.notEqual(second[source], first[source], "the source gateway restarted");
    assert.equal(second[dest], first[dest], "the destination gateway kept running");
  });
});
