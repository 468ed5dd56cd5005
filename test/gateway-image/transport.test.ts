import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as net from "node:net";
import { batchMeta } from "../../gateway-image/codec";
import { DataServer } from "../../gateway-image/daemon/receiver";
import { SendPool } from "../../gateway-image/daemon/sender";
import { AUTH_BYTES } from "../../gateway-image/wire";
import type { ChunkRequest } from "../../planner/program";
import { crc32 } from "../../stores/checksum";

function chunk(data: Buffer): ChunkRequest {
  const id = crypto.randomBytes(16).toString("hex");
  return {
    id,
    srcKey: `k/${id}`,
    dstKey: `k/${id}`,
    offset: 0,
    length: data.length,
    objectSize: data.length,
  };
}

/** A TCP proxy on loopback that flips one byte of the client's stream at `flipAt` on its first connection. */
async function corruptingProxy(
  upstreamPort: number,
  flipAt: number,
): Promise<{ port: number; close: () => void }> {
  let first = true;
  const sockets: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, "127.0.0.1");
    sockets.push(client, upstream);
    let seen = 0;
    const corrupt = first;
    first = false;
    client.on("data", (b: Buffer) => {
      if (corrupt && flipAt >= seen && flipAt < seen + b.length) {
        b = Buffer.from(b);
        b[flipAt - seen] ^= 0x40;
      }
      seen += b.length;
      upstream.write(b);
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

describe("gateway-image: send pool and data server on loopback", function () {
  this.timeout(30_000);
  const token = "dataplane-token";
  const key = crypto.randomBytes(32);
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function server(received: Map<string, Buffer>, problems: string[]): Promise<number> {
    const ds = new DataServer({
      token,
      key,
      handler: async (req, raw) => void received.set(req.id, Buffer.concat(raw)),
      onProblem: (p) => problems.push(p),
    });
    cleanup.push(() => ds.close());
    return ds.listen(0, "127.0.0.1");
  }

  it("moves chunks over several connections, each exactly once and intact", async () => {
    const received = new Map<string, Buffer>();
    const port = await server(received, []);
    const pool = new SendPool({
      target: { gatewayId: "d", host: "127.0.0.1", port },
      connections: 3,
      token,
      key,
      compress: "zstd",
    });
    cleanup.push(() => pool.close());
    const sent = Array.from({ length: 40 }, (_, i) => crypto.randomBytes(i * 1000));
    const reqs = sent.map(chunk);
    await Promise.all(reqs.map((r, i) => pool.send(r, [sent[i]], crc32(sent[i]))));
    assert.equal(received.size, sent.length);
    reqs.forEach((r, i) => assert.ok(received.get(r.id)?.equals(sent[i]), `chunk ${i}`));
  });

  it("rejects a corrupted frame, resends it, and hands on only the good copy", async () => {
    const received = new Map<string, Buffer>();
    const problems: string[] = [];
    const port = await server(received, problems);
    const data = crypto.randomBytes(200_000);
    const req = chunk(data);
    const metaLength = Buffer.byteLength(JSON.stringify(req));
    // The AUTH, the 64-byte header, the metadata, then 1000 bytes into the payload.
    const proxy = await corruptingProxy(port, AUTH_BYTES + 64 + metaLength + 1000);
    cleanup.push(proxy.close);
    const pool = new SendPool({
      target: { gatewayId: "d", host: "127.0.0.1", port: proxy.port },
      connections: 1,
      token,
      key,
      compress: "none",
    });
    cleanup.push(() => pool.close());
    await pool.send(req, [data], crc32(data));
    assert.ok(received.get(req.id)?.equals(data));
    assert.equal(
      problems.filter((p) => p.includes("rejected chunk")).length,
      1,
      problems.join("\n"),
    );
    assert.match(problems.join("\n"), /failed authentication/);
  });

  it("refuses a sender with the wrong token; its chunk fails after the allowed attempts", async () => {
    const received = new Map<string, Buffer>();
    const problems: string[] = [];
    const port = await server(received, problems);
    const pool = new SendPool({
      target: { gatewayId: "d", host: "127.0.0.1", port },
      connections: 1,
      token: "wrong",
      key,
      compress: "none",
      maxAttempts: 2,
    });
    cleanup.push(() => pool.close());
    const data = Buffer.from("secret");
    await assert.rejects(
      pool.send(chunk(data), [data], crc32(data)),
      /failed 2 times: connection lost/,
    );
    assert.equal(received.size, 0);
    assert.match(problems[0], /bad token/);
  });

  it("fails queued chunks with an error naming an unreachable gateway", async () => {
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, "127.0.0.1", r));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise<void>((r) => free.close(() => r()));
    const pool = new SendPool({
      target: { gatewayId: "gw-x", host: "127.0.0.1", port },
      connections: 2,
      token,
      compress: "none",
      deadPeerMs: 300,
    });
    cleanup.push(() => pool.close());
    const data = Buffer.from("x");
    await assert.rejects(
      pool.send(chunk(data), [data], crc32(data)),
      new RegExp(`gateway gw-x at 127.0.0.1:${port} is unreachable`),
    );
  });
  describe("batches of small chunks", () => {
    /** A server whose handler records each chunk it is handed and reports it stored (or fails `bad`). */
    async function storing(
      calls: Map<string, number>,
      problems: string[],
      bad?: string,
    ): Promise<number> {
      const ds = new DataServer({
        token,
        key,
        handler: async (req, raw) => {
          calls.set(req.id, (calls.get(req.id) ?? 0) + 1);
          if (req.id === bad) throw new Error("disk full");
          const crc = crc32(Buffer.concat(raw)).toString(16).padStart(8, "0");
          return { "local://dst": { size: req.length, hashes: { crc32: crc } } };
        },
        onProblem: (p) => problems.push(p),
      });
      cleanup.push(() => ds.close());
      return ds.listen(0, "127.0.0.1");
    }

    it("sends many small chunks in a few frames, each settled with what its store reported", async () => {
      const calls = new Map<string, number>();
      const port = await storing(calls, []);
      let frames = 0;
      const pool = new SendPool({
        target: { gatewayId: "d", host: "127.0.0.1", port },
        connections: 4,
        token,
        key,
        compress: "zstd",
        onFrame: () => frames++,
      });
      cleanup.push(() => pool.close());
      const sent = Array.from({ length: 1000 }, (_, i) => crypto.randomBytes(i % 3 ? 1024 : 0));
      const reqs = sent.map(chunk);
      const stored = await Promise.all(reqs.map((r, i) => pool.send(r, [sent[i]], crc32(sent[i]))));
      assert.equal(calls.size, sent.length);
      assert.ok(
        [...calls.values()].every((n) => n === 1),
        "each chunk handed on once",
      );
      assert.ok(frames <= 20, `${frames} frames for ${sent.length} chunks`);
      stored.forEach((s, i) =>
        assert.deepEqual(s, {
          "local://dst": {
            size: sent[i].length,
            hashes: { crc32: crc32(sent[i]).toString(16).padStart(8, "0") },
          },
        }),
      );
    });

    it("fails only the chunk whose write failed; the rest of its batch lands", async () => {
      const calls = new Map<string, number>();
      const sent = Array.from({ length: 50 }, () => crypto.randomBytes(100));
      const reqs = sent.map(chunk);
      const port = await storing(calls, [], reqs[7].id);
      let frames = 0;
      const pool = new SendPool({
        target: { gatewayId: "d", host: "127.0.0.1", port },
        connections: 1,
        token,
        key,
        compress: "none",
        onFrame: () => frames++,
      });
      cleanup.push(() => pool.close());
      const outcomes = await Promise.allSettled(
        reqs.map((r, i) => pool.send(r, [sent[i]], crc32(sent[i]))),
      );
      assert.equal(frames, 1, "one batch");
      const failed = outcomes.flatMap((o, i) => (o.status === "rejected" ? [[i, o.reason]] : []));
      assert.equal(failed.length, 1);
      assert.equal(failed[0][0], 7);
      assert.match(
        String(failed[0][1]),
        new RegExp(`could not handle chunk ${reqs[7].id}: disk full`),
      );
      assert.equal(calls.get(reqs[7].id), 1, "a failed write is not sent again");
    });

    it("rejects a corrupted batch whole, resends it, and hands on each chunk once and intact", async () => {
      const received = new Map<string, Buffer>();
      const problems: string[] = [];
      let handed = 0;
      const ds = new DataServer({
        token,
        key,
        handler: async (req, raw) => {
          handed++;
          received.set(req.id, Buffer.concat(raw));
        },
        onProblem: (p) => problems.push(p),
      });
      cleanup.push(() => ds.close());
      const port = await ds.listen(0, "127.0.0.1");
      const sent = Array.from({ length: 60 }, (_, i) => crypto.randomBytes(500 + i));
      const reqs = sent.map(chunk);
      // Queued before the connection is up, so its first frame is a batch of all 60.
      const metaLength = batchMeta(reqs.map((req, i) => ({ req, rawCrc: crc32(sent[i]) }))).length;
      const proxy = await corruptingProxy(port, AUTH_BYTES + 64 + metaLength + 20_000);
      cleanup.push(proxy.close);
      let frames = 0;
      const pool = new SendPool({
        target: { gatewayId: "d", host: "127.0.0.1", port: proxy.port },
        connections: 1,
        token,
        key,
        compress: "none",
        onFrame: () => frames++,
      });
      cleanup.push(() => pool.close());
      await Promise.all(reqs.map((r, i) => pool.send(r, [sent[i]], crc32(sent[i]))));
      assert.equal(frames, 2, "the batch, and once more");
      assert.equal(handed, sent.length, "nothing of the corrupted batch was handed on");
      reqs.forEach((r, i) => assert.ok(received.get(r.id)?.equals(sent[i]), `chunk ${i}`));
      assert.equal(
        problems.filter((p) => p.includes("rejected chunk")).length,
        1,
        problems.join("\n"),
      );
      assert.match(problems.join("\n"), /failed authentication/);
    });
  });
});
