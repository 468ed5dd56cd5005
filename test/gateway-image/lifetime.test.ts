import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalGateway, startLocalGateway } from "../../bench/loopback";
import { GATEWAY_PROGRAM_VERSION, GatewayProgram } from "../../planner/program";
import { GatewayClient } from "../../runner/gateway-client";

/** Resolves to the gateway's exit code and how long after `since` it exited. */
function exitOf(gw: LocalGateway, since: number): Promise<{ code: number | null; after: number }> {
  return new Promise((resolve) => {
    const done = () => resolve({ code: gw.process.exitCode, after: Date.now() - since });
    if (gw.process.exitCode !== null || gw.process.signalCode !== null) done();
    else gw.process.once("exit", done);
  });
}

/* A gateway ends itself after its TTL, so nothing runs on after a lost client; a bad TTL is refused. */
describe("gateway-image: a gateway's lifetime", function () {
  this.timeout(30_000);
  let home: string;
  const program: GatewayProgram = {
    version: GATEWAY_PROGRAM_VERSION,
    gatewayId: "west-0",
    region: "local:west",
    operators: [{ op: "receive", next: { op: "write_object_store", bucket: "local://dst" } }],
  };
  const token = crypto.randomBytes(24).toString("base64url");
  const start = (ttl: string, more: string[] = [], where: { dir?: string; home?: string } = {}) =>
    startLocalGateway({
      program,
      dir: where.dir ?? path.join(home, "gateways"),
      token,
      key: crypto.randomBytes(32),
      home: where.home ?? home,
      extraArgs: ["--ttl-minutes", ttl, ...more],
    });
  const clientOf = (gw: LocalGateway) =>
    new GatewayClient(
      { gatewayId: "west-0", host: "127.0.0.1", controlPort: gw.info.controlPort },
      token,
    );

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-ttl-"));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("exits on its own, cleanly, once its TTL is over", async () => {
    const started = Date.now();
    const gw = await start("0.02"); // 1.2 s
    const code = await new Promise<number | null>((resolve) =>
      gw.process.exitCode !== null
        ? resolve(gw.process.exitCode)
        : gw.process.once("exit", resolve),
    );
    const lived = Date.now() - started;
    assert.equal(code, 0);
    assert.ok(lived >= 1_100 && lived < 15_000, `lived ${lived} ms`);
    assert.match(fs.readFileSync(gw.logFile, "utf8"), /stopping: TTL of 0\.02 minutes reached/);
  });

  it("stops on its own, long before its TTL, once its client has been silent for a lease", async () => {
    const gw = await start("60", ["--lease-seconds", "1.5"]);
    const client = clientOf(gw);
    await client.status(); // the client's first call; then it falls silent (as if killed)
    client.close();
    const silentFrom = Date.now();
    const { code, after } = await exitOf(gw, silentFrom);
    assert.equal(code, 0);
    assert.ok(after >= 1_400 && after < 10_000, `stopped ${after} ms after the last call`);
    assert.match(
      fs.readFileSync(gw.logFile, "utf8"),
      /stopping: no word from the client for 1\.5 s/,
    );
  });

  it("lives on while its client renews the lease, and stops after the client goes silent", async () => {
    const gw = await start("60", ["--lease-seconds", "1.5"]);
    const client = clientOf(gw);
    const exited = exitOf(gw, Date.now());
    const beatUntil = Date.now() + 4_000; // well past the 1.5 s lease
    while (Date.now() < beatUntil) {
      await client.renewLease();
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(gw.process.exitCode, null, "the gateway stopped while its client was there");
    client.close();
    const silentFrom = Date.now();
    const { code } = await exited;
    const after = Date.now() - silentFrom;
    assert.equal(code, 0);
    assert.ok(after >= 1_000 && after < 10_000, `stopped ${after} ms after the last beat`);
  });

  it("a keep-warm gateway outlives a silent client until its warm period ends", async () => {
    const started = Date.now();
    const gw = await start("60", [
      "--lease-seconds",
      "1",
      "--expire-at",
      String(Date.now() + 4_000),
    ]);
    const client = clientOf(gw);
    await client.status();
    client.close();
    const { code, after } = await exitOf(gw, started);
    assert.equal(code, 0);
    assert.ok(after >= 3_900 && after < 15_000, `lived ${after} ms`);
  });

  it("refuses a lease that is not a positive number of seconds", async () => {
    for (const lease of ["0", "-3", "later"])
      await assert.rejects(
        start("60", ["--lease-seconds", lease]),
        /--lease-seconds takes a positive number of seconds/,
      );
  });

  it("exits once its record (info file) is gone, or names another process", async () => {
    const gw = await start("60");
    const infoFile = path.join(home, "gateways", "west-0.info.json");
    assert.equal(JSON.parse(fs.readFileSync(infoFile, "utf8")).pid, gw.info.pid);
    const removedAt = Date.now();
    fs.rmSync(infoFile);
    const { code, after } = await exitOf(gw, removedAt);
    assert.equal(code, 0);
    assert.ok(after < 10_000, `exited ${after} ms after its record went`);
    assert.match(
      fs.readFileSync(gw.logFile, "utf8"),
      /stopping: its record .*west-0\.info\.json is gone/,
    );
    assert.equal(fs.existsSync(infoFile), false, "it did not write its record again");

    const other = await start("60");
    fs.writeFileSync(infoFile, JSON.stringify({ ...other.info, pid: other.info.pid + 1 }));
    const replaced = await exitOf(other, Date.now());
    assert.equal(replaced.code, 0);
    assert.match(
      fs.readFileSync(other.logFile, "utf8"),
      new RegExp(`stopping: its record .* names process ${other.info.pid + 1}`),
    );
  });

  it("exits once its skyplane home is gone, and does not re-create it", async () => {
    const otherHome = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-ttl-home-"));
    const dir = path.join(home, "elsewhere");
    const gw = await start("60", [], { dir, home: otherHome });
    const removedAt = Date.now();
    fs.rmSync(otherHome, { recursive: true });
    const { code, after } = await exitOf(gw, removedAt);
    assert.equal(code, 0);
    assert.ok(after < 10_000, `exited ${after} ms after its home went`);
    assert.match(fs.readFileSync(gw.logFile, "utf8"), /stopping: its home .* is gone/);
    assert.equal(fs.existsSync(otherHome), false);
  });

  it("writes its run file 0600 in a folder of its own, 0700, whatever the umask", async () => {
    const umask = process.umask(0o022);
    let gw;
    try {
      gw = await start("1");
    } finally {
      process.umask(umask);
    }
    await gw.stop();
    const dir = path.join(home, "gateways");
    const modes = [".", ...fs.readdirSync(dir)].map((f) => [
      f,
      (fs.statSync(path.join(dir, f)).mode & 0o777).toString(8),
    ]);
    assert.deepEqual(Object.fromEntries(modes), {
      ".": "700",
      "west-0.info.json": "600",
      "west-0.log": "600",
      "west-0.program.json": "600",
    });
  });

  it("refuses a TTL that is not a positive number of minutes", async () => {
    for (const ttl of ["0", "-1", "soon"])
      await assert.rejects(start(ttl), /--ttl-minutes takes a positive number of minutes/);
  });

  it("refuses a bound on writes or chunks in flight that is not a whole number of at least 1", async () => {
    for (const flag of ["--max-writes", "--max-inflight-chunks"])
      for (const bad of ["0", "2.5", "many"])
        await assert.rejects(
          start("5", [flag, bad]),
          new RegExp(`${flag} takes a whole number of at least 1`),
        );
  });
});
