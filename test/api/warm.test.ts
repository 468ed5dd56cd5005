import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { AWSConfig, DEFAULT_TRANSFER_CONFIG, ProvisionReport, SkyplaneClient } from "../../runner";
import { Dataplane } from "../../runner/dataplane";
import { Engine } from "../../runner/engine";
import { readRouteRecord, routeRecordFile, writeRouteRecord } from "../../runner/route-record";
import { deprovisionStack } from "../../runner/stacks";
import { LocalStore, localBucketRoot } from "../../stores";

const STACK = "local-east--local-west";

/** Gateway id → pid of the gateways of `stack`, from the files they write once they listen. */
function gatewayPids(home: string, stack = STACK): Record<string, number> {
  const dir = path.join(home, "run", stack);
  if (!fs.existsSync(dir)) return {};
  return Object.fromEntries(
    fs.readdirSync(dir).map((f) => {
      const info = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
      return [info.gatewayId as string, info.pid as number];
    }),
  );
}

/*
 * Warm routes through the real engine: a dataplane that keeps its route warm takes the recorded gateways
 * as they are, without the engine, when they fit and answer with the record's token; each reason not to
 * is made to happen here, and each goes through the engine (`up`), after which the route is warm again.
 */
describe("api: warm routes", function () {
  this.timeout(300_000);
  let home: string;
  let client: SkyplaneClient;
  let src: LocalStore;
  let dst: LocalStore;
  let n = 0;

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-warm-"));
    client = new SkyplaneClient({ home });
    src = await LocalStore.createBucket("w-src", localBucketRoot({ home }, "w-src"), "local:east");
    dst = await LocalStore.createBucket("w-dst", localBucketRoot({ home }, "w-dst"), "local:west");
    const src2 = await LocalStore.createBucket(
      "w-src2",
      localBucketRoot({ home }, "w-src2"),
      "local:east",
    );
    await src.put("obj", Buffer.from("abc"));
    await src2.put("obj2", Buffer.from("abc"));
  });
  after(async () => {
    await deprovisionStack(await Engine.open({ home }), STACK, undefined, { force: true }).catch(
      () => undefined,
    );
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** Copies w-src/obj through `dp` (provisioned here), ends its job, and returns how it provisioned. */
  async function job(dp: Dataplane, from = "local://w-src/obj"): Promise<ProvisionReport> {
    const key = `copy-${n++}`;
    dp.queueCopy(from, `local://w-dst/${key}`);
    return dp.autoDeprovision(async () => {
      const report = await dp.provision();
      const [result] = await dp.run();
      assert.equal(result.objects, 1);
      assert.equal((await dst.get(key)).toString(), "abc", "copied through the gateways");
      return report;
    });
  }

  const warm = (c = client) =>
    c.dataplane("local", "east", "local", "west", { keepWarmSeconds: 600 });

  it("provisions a cold route in two engine runs and a warm one in none, on the same gateways", async () => {
    const cold = await job(warm());
    assert.equal(cold.how, "engine");
    assert.equal(cold.reason, "no-record");
    assert.deepEqual(
      cold.engineRuns.map((r) => r.command),
      ["version", "stack init", "up"],
      "the engine's version, the new stack, its update: nothing else",
    );
    const pids = gatewayPids(home);
    assert.equal(Object.keys(pids).length, 2);

    const hot = await job(warm());
    assert.equal(hot.how, "warm");
    assert.deepEqual(hot.engineRuns, [], "no engine run at all");
    assert.deepEqual(gatewayPids(home), pids, "the same gateways");
    for (const pid of Object.values(pids)) assert.ok(liveStartTime(pid), `gateway ${pid} runs`);
  });

  it("goes through the engine when a gateway is gone, and starts it again", async () => {
    const before = gatewayPids(home);
    process.kill(before["local-west-0"], "SIGKILL");
    while (liveStartTime(before["local-west-0"])) await new Promise((r) => setTimeout(r, 10));
    const report = await job(warm());
    assert.equal(report.how, "engine");
    assert.equal(report.reason, "gateway-gone");
    assert.deepEqual(
      report.engineRuns.map((r) => r.command),
      ["up"],
      "the stack exists and the engine's version is known: its update alone",
    );
    const after = gatewayPids(home);
    assert.notEqual(after["local-west-0"], before["local-west-0"], "a new gateway");
    assert.ok(liveStartTime(after["local-west-0"]));
    assert.equal((await job(warm())).how, "warm", "warm again");
  });

  it("goes through the engine when the gateways refuse the record's token, with new secrets", async () => {
    const found = await readRouteRecord(home, STACK);
    assert.ok(found);
    const other = crypto.randomBytes(32).toString("base64url");
    await writeRouteRecord(home, found.record, { ...found.secrets, token: other });
    const report = await job(warm());
    assert.equal(report.how, "engine");
    assert.equal(report.reason, "token-mismatch");
    const now = await readRouteRecord(home, STACK);
    assert.ok(now);
    assert.notEqual(now.secrets.token, other, "the refused token is not taken up");
    assert.notEqual(now.secrets.token, found.secrets.token, "nor the old one: new secrets");
    assert.equal((await job(warm())).how, "warm", "warm again");
  });

  it("goes through the engine when the warm period ends too soon for the job", async () => {
    const found = await readRouteRecord(home, STACK);
    assert.ok(found?.record.expireAt);
    const pids = gatewayPids(home);
    // A clock 50 s short of the expiry: within the minute a warm route must have left.
    const skew = found.record.expireAt - 50_000 - Date.now();
    const dp = new Dataplane(
      client.dataplane("local", "east", "local", "west").topology,
      {
        home,
        logDir: path.join(home, "logs"),
        engine: () => Engine.open({ home }),
        transfer: DEFAULT_TRANSFER_CONFIG,
        clock: () => Date.now() + skew,
      },
      { keepWarmSeconds: 600 },
    );
    const report = await job(dp);
    assert.equal(report.how, "engine");
    assert.equal(report.reason, "expiry-near");
    const renewed = await readRouteRecord(home, STACK);
    assert.ok(renewed?.record.expireAt && renewed.record.expireAt > found.record.expireAt);
    assert.notDeepEqual(gatewayPids(home), pids, "gateways started with the new expiry");
    assert.equal((await job(warm())).how, "warm", "warm again");
  });

  it("goes through the engine for buckets its gateways are not granted, and for other store credentials", async () => {
    const buckets = await job(warm(), "local://w-src2/obj2");
    assert.equal(buckets.how, "engine");
    assert.equal(buckets.reason, "buckets-not-granted");

    const other = new SkyplaneClient({
      home,
      aws: new AWSConfig({ accessKeyId: "AKIDWARMTEST", secretAccessKey: "warm-test-secret" }),
    });
    const creds = await job(warm(other), "local://w-src2/obj2");
    assert.equal(creds.how, "engine");
    assert.equal(creds.reason, "store-env-changed");
    assert.equal((await job(warm(other), "local://w-src2/obj2")).how, "warm", "warm again");
  });

  it("goes through the engine for another topology on the route", async () => {
    const report = await job(
      client.dataplane("local", "east", "local", "west", { keepWarmSeconds: 600, nVms: 2 }),
    );
    assert.equal(report.how, "engine");
    assert.equal(report.reason, "topology-changed");
    assert.equal(Object.keys(gatewayPids(home)).length, 4);
  });

  it("shares a warm route between two clients at once, and deprovision ends it", async () => {
    const a = warm();
    const b = warm(new SkyplaneClient({ home }));
    a.queueCopy("local://w-src/obj", "local://w-dst/shared-a");
    b.queueCopy("local://w-src/obj", "local://w-dst/shared-b");
    const first = await a.provision();
    assert.equal(first.reason, "topology-changed", "back to one gateway per region");
    const second = await b.provision();
    assert.equal(second.how, "shared");
    assert.deepEqual(second.engineRuns, []);
    await Promise.all([a.run(), b.run()]);
    for (const k of ["shared-a", "shared-b"]) assert.equal((await dst.get(k)).toString(), "abc");
    await a.autoDeprovision(async () => undefined);
    await b.autoDeprovision(async () => undefined);
    const pids = Object.values(gatewayPids(home));
    assert.ok(pids.length === 2 && pids.every((p) => liveStartTime(p)), "still warm");

    const r = await deprovisionStack(await Engine.open({ home }), STACK);
    assert.ok(r.destroyed > 0);
    for (const p of pids) assert.equal(liveStartTime(p), undefined, `gateway ${p} stopped`);
    assert.equal(fs.existsSync(routeRecordFile(home, STACK)), false, "no record left");
    const cold = await job(warm());
    assert.equal(cold.reason, "no-record", "a cold route again");
  });
});
