import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startLocalGateway } from "../../gateway-image/local";
import { GATEWAY_PROGRAM_VERSION, GatewayProgram } from "../../planner/program";

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
  const start = (ttl: string) =>
    startLocalGateway({
      program,
      dir: path.join(home, "gateways"),
      token: crypto.randomBytes(24).toString("base64url"),
      key: crypto.randomBytes(32),
      home,
      extraArgs: ["--ttl-minutes", ttl],
    });

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
});
