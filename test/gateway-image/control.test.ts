import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { controlClientTls } from "../../gateway-image/control-tls";
import { ControlServer } from "../../gateway-image/daemon/control";
import { GatewayExecutor } from "../../gateway-image/daemon/executor";
import { DataServer } from "../../gateway-image/daemon/receiver";
import { GatewayClient } from "../../runner/gateway-client";
import { crc32, formatCrc, LocalStore, localBucketRoot } from "../../stores";
import { sourceProgram } from "../../bench/loopback";
import { GATEWAY_PROGRAM_VERSION } from "../../planner/program";
import { READ_BACK_PIECE_BYTES } from "../../stores/types";

describe("gateway-image: control API", function () {
  this.timeout(30_000);
  const token = "t0ken";
  let home: string;
  let executor: GatewayExecutor;
  let control: ControlServer;
  let downstream: DataServer;
  let port: number;
  let release: () => void;
  let shutdowns = 0;

  beforeEach(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-ctl-"));
    const src = await LocalStore.createBucket(
      "src",
      localBucketRoot({ home }, "src"),
      "local:east",
    );
    for (let i = 0; i < 5; i++) await src.put(`k${i}`, Buffer.from(`v${i}`));
    // A downstream gateway that holds every chunk until released, so chunks stay in flight.
    const held = new Promise<void>((r) => (release = r));
    downstream = new DataServer({ token, handler: () => held });
    const dataPort = await downstream.listen(0, "127.0.0.1");
    executor = new GatewayExecutor(sourceProgram(dataPort, { connections: 1, encrypt: false }), {
      token,
      stores: { home },
      queueCapacity: 3,
    });
    control = new ControlServer({
      token,
      executor,
      errors: ["a logged problem"],
      onShutdown: () => shutdowns++,
    });
    port = await control.listen(0, "127.0.0.1");
  });
  afterEach(async () => {
    release();
    await control.close();
    await executor.close();
    await downstream.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** One request over the control API's TLS, keyed by `key` (the dataplane token unless told). */
  const request = (
    path: string,
    opts: { method?: string; headers?: Record<string, string>; body?: string; key?: string } = {},
  ) =>
    new Promise<{ status: number; json: unknown }>((resolve, reject) => {
      const req = https.request(
        {
          host: "127.0.0.1",
          port,
          path: `/api/v1${path}`,
          method: opts.method ?? "GET",
          headers: opts.headers,
          agent: false,
          ...controlClientTls(opts.key ?? token),
        },
        (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
        },
      );
      req.on("error", reject);
      req.end(opts.body);
    });

  const chunks = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      id: crypto.randomBytes(16).toString("hex"),
      srcKey: `k${i}`,
      dstKey: `k${i}`,
      offset: 0,
      length: 2,
      objectSize: 2,
    }));

  it("refuses requests without the right bearer token", async () => {
    for (const headers of [
      {},
      { authorization: "Bearer wrong" },
      { authorization: `Basic ${token}` },
    ] as Record<string, string>[]) {
      const res = await request("/status", { headers });
      assert.equal(res.status, 401);
      assert.deepEqual(res.json, { error: "missing or wrong bearer token" });
    }
    const res = await request("/chunk_requests", {
      method: "POST",
      body: JSON.stringify({ chunks: chunks(1) }),
    });
    assert.equal(res.status, 401);
    assert.equal(executor.stats.queued + executor.stats.inflight, 0, "nothing was queued");
  });

  it("speaks only TLS keyed by the token: another dataplane's key and plain HTTP get no answer", async () => {
    await assert.rejects(
      request("/status", { headers: { authorization: `Bearer ${token}` }, key: "another token" }),
      (err: NodeJS.ErrnoException) => /EPROTO|ECONNRESET/.test(err.code ?? ""),
    );
    const wrong = new GatewayClient(
      { gatewayId: "east-0", host: "127.0.0.1", controlPort: port },
      "another token",
    );
    await assert.rejects(wrong.status(), (err: Error & { code?: string }) => {
      assert.equal(err.code, "GATEWAY_AUTH");
      assert.match(err.message, /gateway east-0 at 127\.0\.0\.1:\d+ refused the dataplane's key/);
      return true;
    });
    wrong.close();
    const plain = await new Promise<string>((resolve) =>
      http
        .get(
          {
            host: "127.0.0.1",
            port,
            path: "/api/v1/status",
            headers: { authorization: `Bearer ${token}` },
          },
          (res) => resolve(`status ${res.statusCode}`),
        )
        .on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message)),
    );
    assert.match(plain, /ECONNRESET|HPE_|status 400/, "no JSON over plain HTTP");
    assert.equal(executor.stats.queued + executor.stats.inflight, 0, "nothing was queued");
  });

  it("takes part of a batch when full, and reports status, chunk outcomes and errors", async () => {
    const client = new GatewayClient(
      { gatewayId: "east-0", host: "127.0.0.1", controlPort: port },
      token,
    );
    const status = await client.status();
    assert.equal(status.gatewayId, "east-0");
    assert.equal(status.isSource, true);
    const batch = chunks(5);
    assert.equal(await client.submit(batch), 3, "capacity 3: a prefix of the batch");
    assert.equal(await client.submit(batch.slice(3)), 0, "still full while chunks are in flight");
    release();
    let seen: string[] = [];
    let cursor = 0;
    while (seen.length < 3) {
      const r = await client.chunkStatus(cursor);
      cursor = r.cursor;
      seen = seen.concat(r.events.map((e) => `${e.id}:${e.state}:${e.crc}`));
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(
      seen.sort(),
      batch
        .slice(0, 3)
        .map((c, i) => `${c.id}:done:${crc(`v${i}`)}`)
        .sort(),
    );
    assert.equal(await client.submit(batch.slice(3)), 2, "room again once they are done");
    assert.deepEqual(await client.errors(), ["a logged problem"]);
    await client.shutdown();
    await new Promise((r) => setImmediate(r));
    assert.equal(shutdowns, 1);
  });

  it("answers bad requests with 4xx and a reason", async () => {
    const auth = { authorization: `Bearer ${token}` };
    let res = await request("/chunk_requests", { method: "POST", headers: auth, body: "{nope" });
    assert.equal(res.status, 400);
    res = await request("/chunk_status?cursor=-1", { headers: auth });
    assert.equal(res.status, 400);
    // A chunk longer than any part (issue 12, item 4): refused with a reason, nothing queued.
    const huge = { ...chunks(1)[0], length: 4.5 * 1024 ** 3, objectSize: 4.5 * 1024 ** 3 };
    res = await request("/chunk_requests", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ chunks: [huge] }),
    });
    assert.equal(res.status, 400);
    assert.match((res.json as { error: string }).error, /^BAD_CHUNK_REQUEST: .*length \d+ is over/);
    assert.equal(executor.stats.queued + executor.stats.inflight, 0, "nothing was queued");
    assert.equal((await request("/status", { headers: auth })).status, 200, "still running");
    res = await request("/nothing", { headers: auth });
    assert.equal(res.status, 404);
  });
});

describe("gateway-image: control API, read-back at a destination", function () {
  this.timeout(30_000);
  const token = "t0ken";
  let home: string;
  let executor: GatewayExecutor;
  let control: ControlServer;
  let client: GatewayClient;
  let dst: LocalStore;

  beforeEach(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-rb-"));
    dst = await LocalStore.createBucket("dst", localBucketRoot({ home }, "dst"), "local:west");
    await LocalStore.createBucket("other", localBucketRoot({ home }, "other"), "local:west");
    executor = new GatewayExecutor(
      {
        version: GATEWAY_PROGRAM_VERSION,
        gatewayId: "west-0",
        region: "local:west",
        operators: [
          {
            op: "receive",
            encrypted: false,
            next: { op: "write_object_store", bucket: "local://dst" },
          },
        ],
      },
      { token, stores: { home } },
    );
    control = new ControlServer({ token, executor, errors: [], onShutdown: () => undefined });
    const port = await control.listen(0, "127.0.0.1");
    client = new GatewayClient(
      { gatewayId: "west-0", host: "127.0.0.1", controlPort: port },
      token,
    );
  });
  afterEach(async () => {
    client.close();
    await control.close();
    await executor.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("answers each range's length and CRC-32 as the store holds it, in pieces of bounded size", async () => {
    const data = crypto.randomBytes(READ_BACK_PIECE_BYTES + 5000);
    await dst.put("d/obj", data);
    const ranges = [
      { offset: 0, length: 1000 },
      { offset: 1000, length: data.length - 1000 }, // longer than one piece: read in two
      { offset: data.length, length: 0 },
    ];
    const back = await client.readBack("local://dst", "d/obj", ranges);
    assert.deepEqual(back, [
      { bytes: 1000, crc: formatCrc(crc32(data.subarray(0, 1000))) },
      { bytes: data.length - 1000, crc: formatCrc(crc32(data.subarray(1000))) },
      { bytes: 0, crc: "00000000" },
    ]);
    assert.equal(executor.stats.bytesReadBack, data.length);
    // More ranges than are read at once, a long one first: answered in the ranges' order all the same.
    const many = [
      { offset: 0, length: READ_BACK_PIECE_BYTES + 100 },
      ...Array.from({ length: 9 }, (_, i) => ({ offset: 7 * i, length: 100 + i })),
    ];
    assert.deepEqual(
      await client.readBack("local://dst", "d/obj", many),
      many.map((r) => ({
        bytes: r.length,
        crc: formatCrc(crc32(data.subarray(r.offset, r.offset + r.length))),
      })),
    );
    // An object shorter than the ranges say: the bytes there are, and their CRC-32.
    const short = await client.readBack("local://dst", "d/obj", [
      { offset: data.length - 10, length: 20 },
    ]);
    assert.deepEqual(short, [{ bytes: 10, crc: formatCrc(crc32(data.subarray(-10))) }]);
  });

  it("reads back only a bucket its program writes, only inside it, and only well-formed ranges", async () => {
    const refused = async (bucket: string, key: string, ranges: unknown, says: RegExp) =>
      assert.rejects(
        client.readBack(bucket, key, ranges as Array<{ offset: number; length: number }>),
        (e: Error) => /: 400 /.test(e.message) && says.test(e.message),
      );
    await dst.put("k", Buffer.from("kept"));
    const one = [{ offset: 0, length: 4 }];
    await refused("local://other", "k", one, /BUCKET_NOT_IN_PROGRAM: .*does not write that bucket/);
    await refused("local://dst", "../other/k", one, /KEY_OUTSIDE_BUCKET/);
    await refused("local://dst", "k", [], /BAD_CHUNK_REQUEST: read-back refused/);
    await refused("local://dst", "k", [{ offset: -1, length: 4 }], /BAD_CHUNK_REQUEST/);
    await refused("local://dst", "k", [{ offset: 0, length: 6 * 1024 ** 3 }], /BAD_CHUNK_REQUEST/);
    assert.equal(executor.stats.bytesReadBack, 0, "nothing was read");
    assert.deepEqual(await client.readBack("local://dst", "k", one), [
      { bytes: 4, crc: formatCrc(crc32(Buffer.from("kept"))) },
    ]);
  });
});

function crc(s: string): string {
  return formatCrc(crc32(Buffer.from(s)));
}
