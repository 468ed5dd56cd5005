import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SkyplaneClient } from "../../runner";
import { RpcSession } from "../../cli/rpc-server";
import { encode, LineSplitter, MAX_MESSAGE_BYTES, parseRequest } from "../../cli/rpc-wire";

/*
 * The wire of `skyplane rpc` (python/PROTOCOL.md) on its own: how bytes become lines whatever the
 * chunks they arrive in, which lines are requests, and that nothing over the limit is ever sent. The
 * protocol end to end is tested from Python (python/tests/test_protocol.py).
 */
describe("cli: skyplane rpc's wire", () => {
  /** Splits `chunks` with a limit of `max`; returns the lines and the refused sizes, in order. */
  function split(chunks: Array<string | Buffer>, max = 10): string[] {
    const out: string[] = [];
    const s = new LineSplitter(
      max,
      (line) => out.push(line.toString()),
      (bytes) => out.push(`<refused ${bytes}>`),
    );
    for (const c of chunks) s.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
    s.end();
    return out;
  }

  it("cuts lines wherever the chunks break, and refuses a line over the limit without holding it", () => {
    assert.deepEqual(split(['{"a":1}\n{"b"', ":2}\n\n", "x\r\n", "last"]), [
      '{"a":1}',
      '{"b":2}',
      "x",
      "last",
    ]);
    assert.deepEqual(split(["0123456789\n", "01234567890\nok\n"]), [
      "0123456789",
      "<refused 11>",
      "ok",
    ]);
    // Over the limit across many chunks, then a good line in the same chunk as its end.
    assert.deepEqual(split(["012345", "6789ab", "cdef", "\nok\n"]), ["<refused 16>", "ok"]);
    assert.deepEqual(split(["01234567890123"]), ["<refused 14>"], "at the end of input too");
  });

  it("takes a request of any id and method, and refuses the rest saying what a request is", () => {
    const ok = parseRequest(Buffer.from('{"v":1,"id":"a","method":"logDir"}'));
    assert.deepEqual(ok, { request: { v: 1, id: "a", method: "logDir", params: {} } });
    const refused = (line: string) => {
      const r = parseRequest(Buffer.from(line));
      assert.ok("error" in r, line);
      return [r.id, r.error.code, r.error.message.replace(/^message refused: /, "")];
    };
    assert.deepEqual(refused('{"v":1,"method":"x"}'), [
      null,
      "BAD_MESSAGE",
      'a request needs an "id": an integer or a string',
    ]);
    assert.deepEqual(
      refused('{"v":1,"id":2.5,"method":"x"}')[2],
      refused('{"v":1,"method":"x"}')[2],
    );
    assert.deepEqual(refused('{"v":1,"id":3}'), [
      3,
      "BAD_MESSAGE",
      'a request needs a "method": a string',
    ]);
    assert.deepEqual(refused('{"v":1,"id":4,"method":"x","params":[1]}'), [
      4,
      "BAD_MESSAGE",
      '"params" of x must be an object',
    ]);
  });

  it("never sends a message over the limit: it becomes the error that says so", () => {
    const big = encode({ v: 1, id: 9, result: { data: "x".repeat(MAX_MESSAGE_BYTES) } });
    assert.ok(big.length < 1000);
    const msg = JSON.parse(big);
    assert.equal(msg.id, 9);
    assert.equal(msg.error.code, "BAD_MESSAGE");
    assert.match(
      msg.error.message,
      /^the answer is 1048\d{3} bytes, over the limit of 1048576 bytes/,
    );
    const fits = encode({ v: 1, id: 9, result: "x".repeat(MAX_MESSAGE_BYTES - 30) });
    assert.equal(JSON.parse(fits).result.length, MAX_MESSAGE_BYTES - 30);
    assert.ok(Buffer.byteLength(fits) <= MAX_MESSAGE_BYTES + 1);
  });
});

describe("cli: a skyplane rpc session", () => {
  let home: string;
  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-rpc-"));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  /** A session whose messages are collected; `request` resolves to the answer of one request. */
  function session() {
    const sent: Array<Record<string, unknown>> = [];
    const waiting = new Map<unknown, (m: Record<string, unknown>) => void>();
    const s = new RpcSession({
      heartbeatMs: 60_000,
      makeClient: (o) => new SkyplaneClient({ ...o, home }),
      write: (line) => {
        const m = JSON.parse(line) as Record<string, unknown>;
        sent.push(m);
        waiting.get(m.id)?.(m);
      },
    });
    const request = (id: number, method: string, params: object = {}) =>
      new Promise<Record<string, unknown>>((resolve) => {
        waiting.set(id, resolve);
        s.receive(Buffer.from(JSON.stringify({ v: 1, id, method, params })));
      });
    return { s, sent, request };
  }

  it("makes its one client at init, hands out dataplanes, and refuses what comes before init", async () => {
    const { s, request } = session();
    const early = await request(1, "logDir");
    assert.deepEqual(early.error, {
      code: "BAD_MESSAGE",
      message: 'message refused: send "init" first: it makes the session\'s client',
      exit: 1,
    });
    const init = await request(2, "init", { logDir: path.join(home, "my-logs") });
    assert.deepEqual(init.result, {
      protocol: 1,
      pid: process.pid,
      home,
      logDir: path.join(home, "my-logs"),
      network: "loopback",
    });
    const dp = await request(3, "dataplane.create", {
      srcCloud: "local",
      srcRegion: "east",
      dstCloud: "local",
      dstRegion: "west",
      nVms: 2,
    });
    assert.deepEqual(dp.result, { dataplane: 1, stack: "local-east--local-west" });
    const unknown = await request(4, "dataplane.provision", { dataplane: 7 });
    assert.equal(
      (unknown.error as { message: string }).message,
      "message refused: no dataplane 7 in this session",
    );
    const cancel = await request(5, "cancel", { id: 99 });
    assert.deepEqual(cancel.result, { cancelled: false });
    assert.equal(await s.close("test"), true, "nothing to tear down");
    const late = await request(6, "logDir");
    assert.equal(
      (late.error as { message: string }).message,
      "message refused: the session is closing",
    );
  });

  it("takes a network profile at init, inline or as a file, and refuses a wrong one as the CLI does", async () => {
    const profile = {
      version: 1,
      regions: ["local:east", "local:west"],
      links: { "local:east>local:west": 40, "local:west>local:east": 40 },
      gateway: { egressMbps: 100, ingressMbps: 100 },
    };
    const file = path.join(home, "profile.json");
    fs.writeFileSync(file, JSON.stringify(profile));
    const error = async (params: object) =>
      (await session().request(1, "init", params)).error as { code: string; message: string };
    assert.deepEqual(await error({ network: profile, networkFile: file }), {
      code: "BAD_MESSAGE",
      message:
        'message refused: "init" takes a network profile as "network" or as "networkFile", not both: send one',
      exit: 1,
    });
    assert.equal(
      (await error({ network: [profile] })).message,
      'message refused: "init" takes "network" as an object, not an array',
    );
    assert.deepEqual(await error({ network: { ...profile, regions: ["local:east"] } }), {
      code: "BAD_PROFILE",
      message: "network profile: regions: name at least two local regions",
      exit: 1,
    });
    const missing = path.join(home, "missing.json");
    const unreadable = await error({ networkFile: missing });
    assert.equal(unreadable.code, "UNREADABLE");
    assert.match(unreadable.message, /^cannot read the network profile .*missing\.json: ENOENT/);
    const shapedHere = process.getuid?.() === 0 ? "shaped" : "unshaped";
    for (const params of [{ network: profile }, { networkFile: file }]) {
      const { s, request } = session();
      const init = await request(1, "init", params);
      // "loopback" would say the client was made without it.
      assert.equal((init.result as { network: string }).network, shapedHere);
      await s.close("test");
    }
  });
});
