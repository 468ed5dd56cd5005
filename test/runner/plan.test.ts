import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULT_CHUNKING } from "../../runner/chunker";
import { actualCostUSD, planJson, planTransfer, runsOnClient } from "../../runner/plan";
import { planRoute } from "../../runner/route";
import { byteOrder } from "../../runner/sync";
import { LocalStore, localBucketRoot, openStore } from "../../stores";
import { callsOf, countingOpener, listings, StoreCall } from "../helpers/counting-store";

/* The plan of a copy or sync, without gateways: its listing, its sync diff, its estimate. */
describe("runner: a TransferPlan", function () {
  let home: string;
  let east: LocalStore;
  let west: LocalStore;
  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-plan-"));
    east = await LocalStore.createBucket(
      "p-east",
      localBucketRoot({ home }, "p-east"),
      "local:east",
    );
    west = await LocalStore.createBucket(
      "p-west",
      localBucketRoot({ home }, "p-west"),
      "local:west",
    );
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  async function context(calls: StoreCall[], memoryObjects?: number) {
    const topology = await planRoute({
      src: "local:east",
      dsts: ["local:west"],
      objective: "direct",
    });
    const routes: string[] = [];
    return {
      routes,
      ctx: {
        stores: { home },
        open: countingOpener(calls),
        chunking: DEFAULT_CHUNKING,
        memoryObjects,
        route: (s: string, d: string) => {
          routes.push(`${s} → ${d}`);
          return topology;
        },
      },
    };
  }

  it("runs a transfer on the client alone only between a client folder and a cloud bucket", () => {
    const folder = { scheme: "file", region: "local:client" };
    const cases: Array<[string, { scheme: string; region: string }, boolean]> = [
      ["s3", { scheme: "s3", region: "aws:us-east-1" }, true],
      ["gs", { scheme: "gs", region: "local:east" }, true], // an emulator's bucket
      ["azure", { scheme: "azure", region: "azure:westeurope" }, true],
      // A local bucket is in a region of the local cloud, whose boundary only gateways cross.
      ["local", { scheme: "local", region: "local:west" }, false],
      ["folder", folder, false],
    ];
    assert.deepEqual(
      cases.map(([name, other]) => [
        name,
        runsOnClient(folder, other),
        runsOnClient(other, folder),
      ]),
      cases.map(([name, , both]) => [name, both, both]),
    );
    const s3 = { scheme: "s3", region: "aws:us-east-1" };
    const gs = { scheme: "gs", region: "gcp:us-central1" };
    assert.equal(runsOnClient(s3, gs), false, "bucket to bucket: the buckets' regions");
  });

  it("spools a listing past its memory bound to an owner-only file, read back in order and removed on dispose", async () => {
    const keys = ["big/0", "big/1", "big/2", "big/3", "big/4"];
    for (const k of keys) await east.put(k, Buffer.from(k));
    const calls: StoreCall[] = [];
    const { ctx, routes } = await context(calls, 2);
    const plan = await planTransfer(
      { src: "local://p-east/big", dst: "local://p-west/copy", recursive: true },
      ctx,
    );
    assert.deepEqual(routes, ["local:east → local:west"], "the route is planned once");
    assert.equal(listings(calls, "local://p-east"), 1);
    assert.equal(callsOf(calls, "local://p-east", "region"), 1);
    assert.equal(callsOf(calls, "local://p-west", "region"), 1);
    const file = plan.listing.spoolFile as string;
    assert.ok(file, "the listing outgrew memory");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const batches = [];
    for await (const b of plan.listing.batches(2)) batches.push(b.map((p) => p.dstKey));
    assert.deepEqual(batches, [["copy/0", "copy/1"], ["copy/2", "copy/3"], ["copy/4"]]);
    assert.deepEqual(
      [plan.estimate.objects, plan.estimate.bytes, plan.estimate.chunks],
      [5, 25, 5],
    );
    assert.deepEqual(plan.buckets, { read: ["local://p-east"], write: ["local://p-west"] });
    assert.equal(plan.stackName, "local-east--local-west");
    assert.equal(listings(calls, "local://p-east"), 1, "reading the listing lists nothing");
    await plan[Symbol.asyncDispose]();
    assert.equal(fs.existsSync(file), false);
  });

  it("names the source when both buckets are missing, even when the destination's check fails first", async () => {
    const { ctx } = await context([]);
    let destinationChecked!: () => void;
    const destinationDone = new Promise<void>((resolve) => (destinationChecked = resolve));
    const open: typeof openStore = (uri, stores) => {
      const store = openStore(uri, stores);
      const exists = store.exists.bind(store);
      store.exists =
        uri.bucket === "no-src"
          ? async () => {
              await destinationDone; // the source answers only after the destination has
              return exists();
            }
          : async () => {
              try {
                return await exists();
              } finally {
                destinationChecked();
              }
            };
      return store;
    };
    await assert.rejects(
      planTransfer(
        { src: "local://no-src/a", dst: "local://no-dst/a", recursive: false },
        { ...ctx, open },
      ),
      (err: Error & { code?: string }) =>
        err.code === "NO_SUCH_BUCKET" && /no-src/.test(err.message) && !/no-dst/.test(err.message),
    );
  });

  it("diffs a sync from one listing of each side, merged in the stores' byte order", async () => {
    // U+FF5E sorts before U+1F600 in UTF-8 (as stores list) but after it in UTF-16 (as `<` compares).
    const same = ["s/a\uFF5E", "s/a\u{1F600}", "s/same"];
    for (const k of same) {
      await east.put(k, Buffer.from("x"));
      await west.put(k.replace("s/", "d/"), Buffer.from("x"));
    }
    await east.put("s/bigger", Buffer.from("xx"));
    await west.put("d/bigger", Buffer.from("x"));
    await east.put("s/new", Buffer.from("n"));
    await west.put("d/extra", Buffer.from("e"));
    assert.ok(byteOrder("a\uFF5E", "a\u{1F600}") < 0 && "a\uFF5E" > "a\u{1F600}");
    const calls: StoreCall[] = [];
    const { ctx } = await context(calls);
    const plan = await planTransfer(
      { src: "local://p-east/s", dst: "local://p-west/d", sync: true, delete: true },
      ctx,
    );
    assert.equal(listings(calls, "local://p-east"), 1);
    assert.equal(listings(calls, "local://p-west"), 1);
    assert.deepEqual(
      (await plan.listing.all()).map((p) => p.dstKey),
      ["d/bigger", "d/new"],
    );
    assert.deepEqual(plan.sync, { extra: ["d/extra"], same: 3 });
    const json = await planJson(plan);
    assert.deepEqual(
      [json.objects, json.bytes, json.stack, (json.sync as { extra: string[] }).extra],
      [2, 3, "local-east--local-west", ["d/extra"]],
    );
    await plan[Symbol.asyncDispose]();
  });

  it("estimates what a run cost from the bytes it moved and the seconds it took", async () => {
    const t = await planRoute({
      src: "aws:us-east-1",
      dsts: ["gcp:us-central1-a"],
      objective: "direct",
    });
    const { egress, vm } = t.estimate.costPerGB;
    assert.ok(egress > 0 && vm > 0);
    // At the planned rate, a run costs what the plan said per GB.
    const gb = 10;
    const seconds = (gb * 8) / t.estimate.throughputGbps;
    assert.ok(Math.abs(actualCostUSD(t, gb * 1e9, seconds) - gb * (egress + vm)) < 1e-9);
    // Twice as slow: the same egress, twice the gateway time.
    assert.ok(Math.abs(actualCostUSD(t, gb * 1e9, 2 * seconds) - gb * (egress + 2 * vm)) < 1e-9);
  });
});
