import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runTransfer, DEFAULT_TRANSFER_OPTIONS, TransferOptions } from "../../runner/transfer";
import type { ChunkingOptions } from "../../runner/chunker";
import { TransferProgress, TransferEvent } from "../../runner/progress";
import { listAll } from "../../stores";
import { startDataplane, LoopbackDataplane } from "../../bench/loopback";
import { planned } from "../helpers/plan";
import { planTransfer } from "../../runner/plan";
import { planRoute } from "../../runner/route";
import { GatewayClient } from "../../runner/gateway-client";
import { countingOpener, StoreCall } from "../helpers/counting-store";

/** The status of the loopback dataplane's destination gateway. */
async function destinationStatus(dp: LoopbackDataplane) {
  const client = new GatewayClient(
    { gatewayId: "west-0", host: "127.0.0.1", controlPort: dp.dest.info.controlPort },
    dp.token,
  );
  try {
    return await client.status();
  } finally {
    client.close();
  }
}

const MiB = 1024 * 1024;
const small: TransferOptions = { ...DEFAULT_TRANSFER_OPTIONS, pollIntervalMs: 20 };
const parts: ChunkingOptions = { multipartThresholdBytes: 8 * MiB, partSizeBytes: 4 * MiB };

describe("integration: transfer through a source and a destination gateway", function () {
  this.timeout(120_000);
  let dp: LoopbackDataplane;
  afterEach(async () => dp?.stop());

  for (const [name, compress, encrypt] of [
    ["encrypted and compressed", "zstd", true],
    ["plain", "none", false],
  ] as const) {
    it(`copies a prefix byte for byte (${name}): multipart, small, empty and odd keys`, async () => {
      dp = await startDataplane({ compress, encrypt });
      const objects: Record<string, Buffer> = {
        "data/big.bin": crypto.randomBytes(21 * MiB + 123), // 6 parts, the last one short
        "data/text.txt": Buffer.from("hello ".repeat(100_000)), // compresses well
        "data/empty": Buffer.alloc(0),
        "data/sub dir/ünïcode ✓.txt": Buffer.from("odd key"),
        "other/not-copied": Buffer.from("x"),
      };
      for (const [k, v] of Object.entries(objects)) await dp.src.put(k, v);
      const progress = new TransferProgress();
      const events: TransferEvent["type"][] = [];
      progress.on((e) => events.push(e.type));
      const result = await runTransfer(
        await planned(
          dp.home,
          { src: "local://src/data", dst: "local://dst/copy/", recursive: true },
          parts,
        ),
        { sources: [dp.client], stores: { home: dp.home }, dstRegion: "local:west" },
        small,
        progress,
      );
      const expected = Object.entries(objects).filter(([k]) => k.startsWith("data/"));
      assert.equal(result.objects, expected.length);
      assert.equal(
        result.bytes,
        expected.reduce((n, [, v]) => n + v.length, 0),
      );
      for (const [k, v] of expected) {
        const got = await dp.dst.get(k.replace(/^data\//, "copy/"));
        assert.ok(got.equals(v), `${k} differs`);
      }
      const keys: string[] = [];
      for await (const o of listAll(dp.dst)) keys.push(o.key);
      assert.deepEqual(keys.sort(), expected.map(([k]) => k.replace(/^data\//, "copy/")).sort());
      assert.equal(progress.bytesDone, result.bytes);
      assert.equal(progress.chunksDone, 6 + 3);
      assert.deepEqual([events[0], events.at(-2), events.at(-1)], ["planned", "verified", "done"]);
      assert.equal(
        fs.readdirSync(path.join(dp.dst.root, ".skyplane", "uploads")).length,
        0,
        "no upload left open",
      );
    });
  }

  it("copies 10,000 tiny objects in batches, not one round trip each", async () => {
    dp = await startDataplane({ compress: "none", encrypt: true });
    const n = 10_000;
    for (let i = 0; i < n; i++)
      await dp.src.put(`tiny/${String(i).padStart(5, "0")}`, Buffer.from(`object ${i}`));
    let dispatchCalls = 0;
    const progress = new TransferProgress();
    progress.on((e) => {
      if (e.type === "dispatched") dispatchCalls++;
    });
    const calls: StoreCall[] = [];
    const result = await runTransfer(
      await planned(
        dp.home,
        { src: "local://src/tiny/", dst: "local://dst/tiny/", recursive: true },
        parts,
      ),
      {
        sources: [dp.client],
        stores: { home: dp.home },
        dstRegion: "local:west",
        open: countingOpener(calls),
      },
      small,
      progress,
    );
    assert.equal(result.objects, n);
    assert.ok(dispatchCalls <= 20, `${dispatchCalls} dispatch calls for ${n} objects`);
    assert.equal((await dp.dst.get("tiny/09999")).toString(), "object 9999");
    // Many objects per frame, one write each, and verified from what the store reported as it wrote.
    const [source, dest] = await Promise.all([dp.client.status(), destinationStatus(dp)]);
    assert.equal(source.stats.framesSent, dest.stats.framesReceived);
    assert.ok(dest.stats.framesReceived <= n / 20, `${dest.stats.framesReceived} frames`);
    assert.equal(dest.stats.writes, n);
    assert.deepEqual(result.verified, { objects: n, storeHash: { crc32: n }, readBack: 0 });
    assert.equal(calls.filter((c) => c.method === "head").length, 0, "no HEAD per object");
  });

  for (const limit of [4, undefined]) {
    it(`writes at most --max-writes objects at once at the destination (${limit ?? "default 64"})`, async () => {
      const most = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-writes-")), "most");
      dp = await startDataplane({
        compress: "none",
        encrypt: true,
        wrapDestination: path.join(__dirname, "..", "helpers", "concurrency-store.js"),
        env: { SKYPLANE_TEST_WRITES_FILE: most },
        destArgs: limit ? ["--max-writes", String(limit)] : [],
      });
      const n = 400;
      for (let i = 0; i < n; i++) await dp.src.put(`w/${i}`, Buffer.from(`object ${i}`));
      const result = await runTransfer(
        await planned(dp.home, { src: "local://src/w/", dst: "local://dst/w/", recursive: true }),
        { sources: [dp.client], stores: { home: dp.home }, dstRegion: "local:west" },
        small,
      );
      assert.equal(result.objects, n);
      const seen = Number(fs.readFileSync(most, "utf8"));
      fs.rmSync(path.dirname(most), { recursive: true, force: true });
      if (limit) assert.ok(seen <= limit && seen >= 2, `${seen} writes at once, limit ${limit}`);
      else assert.ok(seen > 4 && seen <= 64, `${seen} writes at once by default (64)`);
    });
  }

  it("copies a listing spooled to disk, window by window, and removes the spool", async () => {
    dp = await startDataplane({ compress: "none", encrypt: true });
    for (let i = 0; i < 7; i++) await dp.src.put(`w/${i}`, Buffer.from(`object ${i}`));
    const topology = await planRoute({
      src: "local:east",
      dsts: ["local:west"],
      objective: "direct",
    });
    const plan = await planTransfer(
      { src: "local://src/w/", dst: "local://dst/w/", recursive: true },
      { stores: { home: dp.home }, chunking: parts, route: () => topology, memoryObjects: 3 },
    );
    const spool = plan.listing.spoolFile as string;
    assert.ok(spool && fs.existsSync(spool), "7 objects outgrow a bound of 3");
    const progress = new TransferProgress();
    const events: TransferEvent["type"][] = [];
    progress.on((e) => events.push(e.type));
    const result = await runTransfer(
      plan,
      { sources: [dp.client], stores: { home: dp.home }, dstRegion: "local:west" },
      { ...small, windowObjects: 3 },
      progress,
    );
    assert.deepEqual(result.verified, { objects: 7, storeHash: { crc32: 7 }, readBack: 0 });
    for (let i = 0; i < 7; i++)
      assert.equal((await dp.dst.get(`w/${i}`)).toString(), `object ${i}`);
    const count = (t: TransferEvent["type"]) => events.filter((e) => e === t).length;
    assert.deepEqual(
      [count("planned"), count("dispatched"), count("object_done"), count("verified")],
      [1, 3, 7, 1],
      "one plan, one dispatch per window of 3, one verification report",
    );
    await plan[Symbol.asyncDispose]();
    assert.equal(fs.existsSync(spool), false);
  });
});

describe("integration: a destination gateway killed mid-transfer", function () {
  this.timeout(120_000);
  let dp: LoopbackDataplane;
  after(async () => dp?.stop());

  it("fails with an error naming the gateway, and leaves no partial object", async () => {
    dp = await startDataplane({
      compress: "none",
      encrypt: true,
      sourceArgs: ["--dead-peer-ms", "1500"],
    });
    const part = 4 * MiB;
    const big = Buffer.alloc(64 * part);
    for (let i = 0; i < 64; i++) big.fill(i, i * part, (i + 1) * part);
    await dp.src.put("big.bin", big);
    await dp.src.put("small.txt", Buffer.from("small"));
    const progress = new TransferProgress();
    let killed = false;
    progress.on((e) => {
      if (e.type === "chunk_done" && !killed) {
        killed = true;
        dp.dest.process.kill("SIGKILL");
      }
    });
    await assert.rejects(
      runTransfer(
        await planned(
          dp.home,
          { src: "local://src/", dst: "local://dst/", recursive: true },
          { ...parts, partSizeBytes: part },
        ),
        { sources: [dp.client], stores: { home: dp.home }, dstRegion: "local:west" },
        small,
        progress,
      ),
      (err: Error) => {
        assert.match(err.message, /gateway west-0 at 127\.0\.0\.1:\d+ is unreachable/);
        return true;
      },
    );
    assert.ok(killed, "the gateway was killed during the transfer");
    assert.equal(await dp.dst.head("big.bin"), undefined, "no partial object");
    const uploads = path.join(dp.dst.root, ".skyplane", "uploads");
    assert.deepEqual(
      fs.existsSync(uploads) ? fs.readdirSync(uploads) : [],
      [],
      "the multipart upload was aborted",
    );
    assert.deepEqual(
      workFiles(dp.dst.root, ["small.txt"]),
      [],
      "no work file is left (the CLI says no partial object was left)",
    );
    const small_ = await dp.dst.head("small.txt");
    assert.ok(
      small_ === undefined || small_.size === 5,
      "a small object is there whole or not at all",
    );
  });
});

/** Work files in a bucket folder: everything but the objects, the bucket's record and checksum records. */
function workFiles(root: string, objects: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name), rel + e.name + "/");
      else out.push(rel + e.name);
    }
  };
  walk(root, "");
  return out.filter(
    (f) =>
      !objects.includes(f) && f !== ".skyplane/bucket.json" && !f.startsWith(".skyplane/meta/"),
  );
}

/** Starts a process that opens a multipart upload of `key` in `root`, writes a part, and waits. */
async function uploader(root: string, key: string): Promise<ChildProcess> {
  const stores = path.join(__dirname, "..", "..", "stores");
  const script = `
    const { LocalStore } = require(${JSON.stringify(stores)});
    (async () => {
      const s = new LocalStore("dst", ${JSON.stringify(root)});
      const id = await s.createMultipartUpload(${JSON.stringify(key)}, { partSize: 1 << 20 });
      await s.uploadPart(${JSON.stringify(key)}, id, 1, Buffer.alloc(1 << 20, 7));
      process.stdout.write("ready\\n");
      setInterval(() => undefined, 1000);
    })();`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`uploader exited with ${code}`)));
  });
  return child;
}

describe("integration: work files of a killed writer", function () {
  this.timeout(120_000);
  let dp: LoopbackDataplane;
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    await dp?.stop();
  });

  it("are removed by the next run into the bucket; a live writer's are kept", async () => {
    dp = await startDataplane({ compress: "none", encrypt: false });
    const dead = await uploader(dp.dst.root, "killed/big.bin");
    const live = await uploader(dp.dst.root, "live/big.bin");
    children.push(dead, live);
    const gone = new Promise((r) => dead.once("exit", r));
    dead.kill("SIGKILL");
    await gone;
    const before = workFiles(dp.dst.root, []);
    assert.ok(before.length >= 4, `work files of both writers: ${before.join(", ")}`);
    assert.deepEqual(
      (await dp.dst.list()).objects.map((o) => o.key),
      [],
      "a listing never shows work files",
    );

    await dp.src.put("a.txt", Buffer.from("a"));
    await runTransfer(
      await planned(
        dp.home,
        { src: "local://src/a.txt", dst: "local://dst/a.txt", recursive: false },
        parts,
      ),
      { sources: [dp.client], stores: { home: dp.home }, dstRegion: "local:west" },
      small,
    );
    const after = workFiles(dp.dst.root, ["a.txt"]);
    assert.ok(after.length >= 2, `the live writer's work files are kept: ${after.join(", ")}`);
    assert.deepEqual(
      after.filter((f) => f.includes("killed") || !before.includes(f)),
      [],
      "nothing of the killed writer is left",
    );
    assert.equal(
      before.length - after.length >= 2,
      true,
      `the killed writer's work files are gone (${before.length} → ${after.length})`,
    );
  });
});

describe("integration: a key whose last segment is 255 bytes", function () {
  this.timeout(120_000);
  let dp: LoopbackDataplane;
  after(async () => dp?.stop());

  it("copies whole and in parts, and leaves no work file", async () => {
    dp = await startDataplane({ compress: "none", encrypt: false });
    const name = "é".repeat(120) + "x".repeat(15); // 255 bytes of UTF-8
    assert.equal(Buffer.byteLength(name), 255);
    const big = crypto.randomBytes(9 * MiB); // above the threshold: a multipart upload
    await dp.src.put(`long/${name}`, Buffer.from("small"));
    await dp.src.put(`long/sub/${name}`, big);
    const result = await runTransfer(
      await planned(
        dp.home,
        { src: "local://src/long/", dst: "local://dst/copy/", recursive: true },
        parts,
      ),
      { sources: [dp.client], stores: { home: dp.home }, dstRegion: "local:west" },
      small,
    );
    assert.equal(result.objects, 2);
    assert.equal((await dp.dst.get(`copy/${name}`)).toString(), "small");
    assert.ok((await dp.dst.get(`copy/sub/${name}`)).equals(big));
    assert.deepEqual(workFiles(dp.dst.root, [`copy/${name}`, `copy/sub/${name}`]), []);
  });
});
