import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { GatewayExecutor } from "../../gateway-image/daemon/executor";
import { DataServer, DataServerOptions } from "../../gateway-image/daemon/receiver";
import { SendPool } from "../../gateway-image/daemon/sender";
import { compress as zstdCompress } from "@mongodb-js/zstd";
import { readFramePayload, readFrameStart } from "../../gateway-image/codec";
import { zstdDecodedBound } from "../../gateway-image/zstd-bound";
import {
  AUTH_BYTES,
  connectionKeys,
  encodeHeader,
  FLAG_ZSTD,
  frameAad,
  HELLO_BYTES,
  sequenceIv,
  TAG_BYTES,
  WireError,
} from "../../gateway-image/wire";
import { GATEWAY_PROGRAM_VERSION, type ChunkRequest, GatewayProgram } from "../../planner/program";
import { crc32, LocalStore, localBucketRoot } from "../../stores";

/*
 * Issue 12, items 2-4: a gateway acts only on its program's buckets, binds every frame to its
 * authenticated connection, and bounds what unauthenticated or hostile peers can make it hold.
 */

function chunk(data: Buffer, extra: Partial<ChunkRequest> = {}): ChunkRequest {
  const id = crypto.randomBytes(16).toString("hex");
  return {
    id,
    srcKey: `k/${id}`,
    dstKey: `k/${id}`,
    offset: 0,
    length: data.length,
    objectSize: data.length,
    ...extra,
  };
}

/** A field of /proc/self/status in KiB (VmRSS: now; VmHWM: the peak since it was last reset). */
function rssKiB(field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(
    fs.readFileSync("/proc/self/status", "utf8"),
  );
  return Number(m?.[1]);
}

/** Resolves when `socket` closes; rejects after `ms`. */
function closedWithin(socket: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Polls `cond` until it holds or `ms` pass. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A loopback proxy that forwards a client's stream and, right after the client's first whole frame,
 * inserts a copy of it: as it is ("replay"), or renamed to another chunk with `dstKey` "injected"
 * ("rename", CRCs recomputed: an attacker on the path knows no secret, but can do that much).
 */
async function injectingProxy(
  upstreamPort: number,
  mode: "rename" | "replay",
): Promise<{ port: number; close: () => void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, "127.0.0.1");
    sockets.push(client, upstream);
    let buffered = Buffer.alloc(0);
    let injected = false;
    client.on("data", (b: Buffer) => {
      upstream.write(b);
      if (injected) return;
      buffered = Buffer.concat([buffered, b]);
      if (buffered.length < AUTH_BYTES + 64) return;
      const h = buffered.subarray(AUTH_BYTES, AUTH_BYTES + 64);
      const metaLength = h.readUInt32BE(24);
      const payloadLength = Number(h.readBigUInt64BE(28));
      const total = 64 + metaLength + payloadLength;
      if (buffered.length < AUTH_BYTES + total) return;
      injected = true;
      const meta = JSON.parse(
        buffered.subarray(AUTH_BYTES + 64, AUTH_BYTES + 64 + metaLength).toString(),
      ) as ChunkRequest;
      const id = crypto.randomBytes(16).toString("hex");
      const forgedMeta = Buffer.from(JSON.stringify({ ...meta, id, dstKey: "injected" }));
      const header = Buffer.from(h);
      Buffer.from(id, "hex").copy(header, 8);
      header.writeUInt32BE(forgedMeta.length, 24);
      header.writeUInt32BE(zlib.crc32(forgedMeta, zlib.crc32(header.subarray(0, 60))) >>> 0, 60);
      const payload = buffered.subarray(AUTH_BYTES + 64 + metaLength, AUTH_BYTES + total);
      upstream.write(
        mode === "replay"
          ? buffered.subarray(AUTH_BYTES, AUTH_BYTES + total)
          : Buffer.concat([header, forgedMeta, payload]),
      );
    });
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      sockets.forEach((s) => s.destroy());
      server.close();
    },
  };
}

describe("gateway-image: trust (issue 12)", function () {
  this.timeout(60_000);
  const token = "dataplane-token";
  const key = crypto.randomBytes(32);
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function server(
    received: Map<string, ChunkRequest>,
    problems: string[],
    extra: Partial<DataServerOptions> & Record<string, unknown> = {},
  ): Promise<number> {
    const ds = new DataServer({
      token,
      key,
      handler: async (req) => void received.set(req.id, req),
      onProblem: (p) => problems.push(p),
      ...extra,
    } as DataServerOptions);
    cleanup.push(() => ds.close());
    return ds.listen(0, "127.0.0.1");
  }

  describe("frames are bound to their connection (item 3)", () => {
    it("drops a plaintext frame on an encrypting dataplane: nothing is handed on or acked", async () => {
      const received = new Map<string, ChunkRequest>();
      const problems: string[] = [];
      const port = await server(received, problems, { requireEncryption: true });
      const pool = new SendPool({
        target: { gatewayId: "d", host: "127.0.0.1", port },
        connections: 1,
        token,
        compress: "none",
        maxAttempts: 2,
      });
      cleanup.push(() => pool.close());
      const data = Buffer.from("plaintext");
      await assert.rejects(pool.send(chunk(data), [data], crc32(data)), /failed 2 times/);
      assert.equal(received.size, 0, "no plaintext frame was handed on");
      assert.match(problems.join("\n"), /not encrypted/);
    });

    for (const [encrypt, mode] of [
      [false, "rename"],
      [false, "replay"],
      [true, "replay"],
    ] as const) {
      it(`refuses a frame injected into a live ${encrypt ? "encrypted" : "plain"} connection (${mode})`, async () => {
        const delivered: string[] = [];
        const problems: string[] = [];
        const ds = new DataServer({
          token,
          key,
          handler: async (req) => void delivered.push(req.dstKey),
          onProblem: (p) => problems.push(p),
          requireEncryption: encrypt,
        } as DataServerOptions);
        cleanup.push(() => ds.close());
        const port = await ds.listen(0, "127.0.0.1");
        const proxy = await injectingProxy(port, mode);
        cleanup.push(proxy.close);
        const pool = new SendPool({
          target: { gatewayId: "d", host: "127.0.0.1", port: proxy.port },
          connections: 1,
          token,
          key: encrypt ? key : undefined,
          compress: "none",
        });
        cleanup.push(() => pool.close());
        const sent = [crypto.randomBytes(5000), crypto.randomBytes(7000)];
        const reqs = sent.map((d) => chunk(d));
        for (const [i, r] of reqs.entries()) await pool.send(r, [sent[i]], crc32(sent[i]));
        assert.deepEqual(
          delivered.sort(),
          reqs.map((r) => r.dstKey).sort(),
          "each of the sender's chunks was handed on once, and nothing else",
        );
        assert.ok(problems.length > 0, "the forged frame was noticed");
      });
    }
  });

  describe("bounded before and after authentication (item 4)", () => {
    it("closes a connection that does not authenticate within the handshake deadline", async () => {
      const problems: string[] = [];
      const port = await server(new Map(), problems, { handshakeMs: 300 });
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.resume(); // reads the HELLO, never answers
      cleanup.push(() => socket.destroy());
      await new Promise((r) => socket.once("connect", r));
      const started = Date.now();
      await closedWithin(socket, 5000);
      assert.ok(Date.now() - started < 4000);
      assert.match(problems.join("\n"), /did not authenticate/);
    });

    it("rejects a zstd bomb before it grows past the declared length (8 KiB → 256 MiB)", async () => {
      const bomb = zstdBomb(2048);
      const req = chunk(Buffer.alloc(8192));
      const meta = Buffer.from(JSON.stringify(req));
      // Sent by a peer that holds the token: the frame verifies, only its body lies.
      const keys = connectionKeys(token, undefined, Buffer.alloc(16, 1), Buffer.alloc(16, 2));
      const header = encodeHeader(
        {
          flags: FLAG_ZSTD,
          chunkId: req.id,
          payloadLength: bomb.length + TAG_BYTES,
          rawLength: 8192,
          rawCrc: 0,
          seq: 0,
        },
        meta,
      );
      const gmac = crypto.createCipheriv("aes-256-gcm", keys.frames, sequenceIv(0));
      gmac.setAAD(Buffer.concat([frameAad(header, meta), bomb]));
      gmac.final();
      const frame = Buffer.concat([header, meta, bomb, gmac.getAuthTag()]);
      let at = 0;
      const read = async (n: number) => frame.subarray(at, (at += n));
      const before = rssKiB("VmRSS");
      fs.writeFileSync("/proc/self/clear_refs", "5"); // resets the peak (VmHWM) to now
      const start = await readFrameStart(read, 0);
      await assert.rejects(
        readFramePayload(start, async (n, onPiece) => onPiece(await read(n)), keys),
        (err: Error) => err instanceof WireError && /zstd/.test(err.message),
      );
      const growthMiB = (rssKiB("VmHWM") - before) / 1024;
      assert.ok(growthMiB < 48, `peak RSS grew by ${growthMiB.toFixed(0)} MiB`);
    });

    it("bounds what real zstd output decodes to within one block of its length, and a bomb far above", async () => {
      const kinds: Array<[string, (n: number) => Buffer]> = [
        ["zeros", (n) => Buffer.alloc(n)],
        ["random", (n) => crypto.randomBytes(n)],
        ["text", (n) => Buffer.from("skyplane gateway ".repeat(Math.ceil(n / 17))).subarray(0, n)],
        ["two-bit", (n) => Buffer.from(crypto.randomBytes(n).map((b) => b & 3))],
      ];
      let checked = 0;
      for (const [name, make] of kinds) {
        for (const n of [1, 1000, 200_000, 3 * 1024 * 1024 + 5]) {
          const raw = make(n);
          const bound = zstdDecodedBound(await zstdCompress(raw, 3));
          assert.ok(bound !== undefined, `${name} ${n}: well formed`);
          assert.ok(bound >= n && bound <= n + 128 * 1024, `${name} ${n}: bound ${bound}`);
          checked++;
        }
      }
      assert.equal(checked, 16);
      assert.equal(zstdDecodedBound(zstdBomb(2048)), 2048 * 128 * 1024);
      assert.equal(zstdDecodedBound(zstdBomb(2048).subarray(0, 100)), undefined, "truncated");
      assert.equal(zstdDecodedBound(Buffer.from("not zstd")), undefined);
    });

    it("caps unauthenticated connections per peer, while a real sender still gets through", async () => {
      const received = new Map<string, ChunkRequest>();
      const problems: string[] = [];
      const port = await server(received, problems, {
        handshakeMs: 20_000,
        maxPreAuthPerPeer: 4,
        maxPreAuth: 16,
      });
      // The hostile peer comes from 127.0.0.2 (all of 127/8 is loopback), the sender from 127.0.0.1.
      const hostile = Array.from({ length: 10 }, () => {
        const s = net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.2" });
        s.on("error", () => undefined);
        cleanup.push(() => s.destroy());
        return s;
      });
      const greeted = hostile.map(
        (s) =>
          new Promise<boolean>((resolve) => {
            let n = 0;
            s.on("data", (b: Buffer) => (n += b.length) >= HELLO_BYTES && resolve(true));
            s.on("close", () => resolve(false));
          }),
      );
      const outcome = await Promise.all(greeted);
      assert.equal(outcome.filter(Boolean).length, 4, "only the cap got a HELLO");
      assert.equal(outcome.filter((g) => !g).length, 6, "the rest were closed");
      const pool = new SendPool({
        target: { gatewayId: "d", host: "127.0.0.1", port },
        connections: 2,
        token,
        key,
        compress: "none",
      });
      cleanup.push(() => pool.close());
      const data = crypto.randomBytes(1000);
      const req = chunk(data);
      await pool.send(req, [data], crc32(data));
      assert.ok(received.has(req.id));
    });
  });
});

/** A zstd frame of `blocks` RLE blocks of 128 KiB zeros: 4 bytes each, 128 KiB each once decoded. */
export function zstdBomb(blocks: number): Buffer {
  const head = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]);
  const body = Buffer.alloc(blocks * 4);
  for (let i = 0; i < blocks; i++) {
    const last = i === blocks - 1 ? 1 : 0;
    body.writeUIntLE(((128 * 1024) << 3) | (1 << 1) | last, i * 4, 3);
    body[i * 4 + 3] = 0;
  }
  return Buffer.concat([head, body]);
}

describe("gateway-image: executor trust (issue 12)", function () {
  this.timeout(60_000);
  const token = "t0ken";
  let home: string;
  let outside: string;
  const cleanup: Array<() => unknown> = [];
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-trust-"));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-outside-"));
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  /** A source gateway granted `local://src` and a downstream that records what reaches it. */
  async function source(read: string[] | undefined): Promise<{
    executor: GatewayExecutor;
    received: Map<string, Buffer>;
    done: (n: number) => Promise<{ id: string; state: string; error?: string }[]>;
  }> {
    const received = new Map<string, Buffer>();
    const downstream = new DataServer({
      token,
      handler: async (req, raw) => void received.set(req.id, Buffer.concat(raw)),
    });
    const dataPort = await downstream.listen(0, "127.0.0.1");
    cleanup.push(() => downstream.close());
    const program: GatewayProgram = {
      version: GATEWAY_PROGRAM_VERSION,
      gatewayId: "east-0",
      region: "local:east",
      operators: [
        {
          op: "read_object_store",
          ...(read ? { buckets: read } : {}),
          next: {
            op: "send",
            target: { gatewayId: "west-0", host: "127.0.0.1", port: dataPort },
            connections: 1,
            compress: "none",
            encrypt: false,
          },
        } as GatewayProgram["operators"][number],
      ],
    };
    const executor = new GatewayExecutor(program, { token, stores: { home } });
    cleanup.push(() => executor.close());
    const done = async (n: number) => {
      await until(() => executor.events.length >= n, 20_000, `${n} chunk events`);
      return executor.events.map((e) => ({ id: e.id, state: e.state, error: e.error }));
    };
    return { executor, received, done };
  }

  it("refuses to read a bucket, a folder or a path its program does not name (item 2)", async () => {
    const src = await LocalStore.createBucket(
      "src",
      localBucketRoot({ home }, "src"),
      "local:east",
    );
    await src.put("ok", Buffer.from("fine"));
    await LocalStore.createBucket("other", localBucketRoot({ home }, "other"), "local:east");
    fs.writeFileSync(path.join(outside, "secret"), "root only");
    fs.symlinkSync(
      path.join(outside, "secret"),
      path.join(localBucketRoot({ home }, "src"), "link"),
    );
    const { executor, received, done } = await source(["local://src"]);
    const good = chunk(Buffer.from("fine"), { srcBucket: "local://src", srcKey: "ok" });
    const bad = [
      chunk(Buffer.alloc(9), { srcBucket: "local://other", srcKey: "x" }),
      chunk(Buffer.alloc(9), { srcBucket: `file://${outside}`, srcKey: "secret" }),
      chunk(Buffer.alloc(9), { srcBucket: "local://src", srcKey: "../other/x" }),
      chunk(Buffer.alloc(9), { srcBucket: "local://src", srcKey: "link" }),
      chunk(Buffer.alloc(9), { srcBucket: "local://src", srcKey: "missing" }),
    ];
    executor.accept([good, ...bad]);
    const events = await done(bad.length + 1);
    assert.deepEqual(
      events.filter((e) => e.state === "done").map((e) => e.id),
      [good.id],
    );
    const errors = new Map(events.map((e) => [e.id, e.error ?? ""]));
    assert.match(errors.get(bad[0].id) ?? "", /BUCKET_NOT_IN_PROGRAM/);
    assert.match(errors.get(bad[1].id) ?? "", /BUCKET_NOT_IN_PROGRAM/);
    assert.match(errors.get(bad[2].id) ?? "", /KEY_OUTSIDE_BUCKET/);
    assert.match(errors.get(bad[3].id) ?? "", /KEY_OUTSIDE_BUCKET/);
    // Refusals say nothing about what is there: a missing key and a forbidden one read alike.
    for (const b of bad) assert.doesNotMatch(errors.get(b.id) ?? "", /\d+ bytes|root only/);
    assert.deepEqual([...received.keys()], [good.id]);
    assert.equal(executor.stats.bytesRead, 4, "only the granted object was read");
  });

  it("refuses to write a bucket its program does not name, and writes nothing (item 2)", async () => {
    await LocalStore.createBucket("dst", localBucketRoot({ home }, "dst"), "local:west");
    const program = {
      version: GATEWAY_PROGRAM_VERSION,
      gatewayId: "west-0",
      region: "local:west",
      operators: [{ op: "receive", next: { op: "write_object_store", buckets: ["local://dst"] } }],
    } as unknown as GatewayProgram;
    const executor = new GatewayExecutor(program, { token, stores: { home } });
    cleanup.push(() => executor.close());
    const port = (await executor.listen(0, "127.0.0.1")) as number;
    const pool = new SendPool({
      target: { gatewayId: "west-0", host: "127.0.0.1", port },
      connections: 1,
      token,
      compress: "none",
    });
    cleanup.push(() => pool.close());
    const data = Buffer.from("planted");
    for (const dstBuckets of [
      { "local:west": `file://${outside}` },
      { "local:west": "local://x" },
    ]) {
      const req = chunk(data, { dstKey: "planted", dstBuckets });
      await assert.rejects(pool.send(req, [data], crc32(data)), /BUCKET_NOT_IN_PROGRAM/);
    }
    const escape = chunk(data, {
      dstKey: "../planted",
      dstBuckets: { "local:west": "local://dst" },
    });
    await assert.rejects(pool.send(escape, [data], crc32(data)), /KEY_OUTSIDE_BUCKET|cannot hold/);
    assert.deepEqual(fs.readdirSync(outside), []);
    assert.equal(fs.existsSync(path.join(localBucketRoot({ home }, "x"), "planted")), false);
    const ok = chunk(data, { dstKey: "fine", dstBuckets: { "local:west": "local://dst" } });
    await pool.send(ok, [data], crc32(data));
    assert.equal(
      fs.readFileSync(path.join(localBucketRoot({ home }, "dst"), "fine"), "utf8"),
      "planted",
    );
  });

  it("refuses a request longer than a part with a clear error, and keeps running (item 4)", async () => {
    const src = await LocalStore.createBucket(
      "src",
      localBucketRoot({ home }, "src"),
      "local:east",
    );
    await src.put("ok", Buffer.from("fine"));
    const { executor, done } = await source(["local://src"]);
    const huge = 4.5 * 1024 ** 3;
    for (const bad of [
      { length: huge, objectSize: huge },
      { length: 6 * 1024 ** 3, objectSize: 6 * 1024 ** 3 },
      { offset: -1 },
      { length: 1.5 },
    ]) {
      assert.throws(
        () =>
          executor.accept([
            chunk(Buffer.alloc(4), { srcBucket: "local://src", srcKey: "ok", ...bad }),
          ]),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, "BAD_CHUNK_REQUEST");
          assert.match(err.message, /offset|length/);
          return true;
        },
      );
    }
    const good = chunk(Buffer.from("fine"), { srcBucket: "local://src", srcKey: "ok" });
    assert.equal(executor.accept([good]), 1);
    const events = await done(1);
    assert.deepEqual(events, [{ id: good.id, state: "done", error: undefined }]);
  });
});
