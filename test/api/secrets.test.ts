import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { SkyplaneClient } from "../../runner";
import { Engine, redact } from "../../runner/engine";
import { readRouteRecord, routeRecordFile } from "../../runner/route-record";
import { DATAPLANE_ONLY_CONFIG } from "../../runner/stacks";

/** Pids of the gateways of `stack`, from the files they write once they listen. */
function gatewayPids(home: string, stack: string): number[] {
  const dir = path.join(home, "run", stack);
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")).pid as number)
        .sort()
    : [];
}

/*
 * The dataplane's token and key are new on every provision but one that reuses a stack that is up
 * (a warm one, or the dataplane's own), and a deprovisioned stack keeps none of its secrets. The runner
 * keeps them sealed in the route's record (runner/route-record.ts), never in the stack's config.
 */
describe("api: the dataplane's secrets", function () {
  this.timeout(240_000);
  let home: string;
  let client: SkyplaneClient;
  const stack = "local-east--local-south";
  const secretsOf = async () => {
    const s = await (await Engine.open({ home })).stack(stack, async () => ({}));
    const config = await s.getAllConfig();
    const held = DATAPLANE_ONLY_CONFIG.filter((k) => k !== "skyplane:expireAt" && config[k]);
    assert.deepEqual(held, [], "no dataplane secret in the stack's config");
    const found = await readRouteRecord(home, stack);
    return {
      token: found?.secrets.token,
      key: found?.secrets.key,
      storeEnv: found?.secrets.storeEnv,
      expireAt: config["skyplane:expireAt"]?.value,
    };
  };

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-rotate-"));
    client = new SkyplaneClient({ home });
  });
  after(async () => {
    await client
      .dataplane("local", "east", "local", "south")
      .deprovision()
      .catch(() => undefined);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("are new after a deprovision, which leaves none in the stack's config", async () => {
    const dp = client.dataplane("local", "east", "local", "south");
    await dp.provision();
    const first = await secretsOf();
    assert.ok(first.token && first.key && first.storeEnv !== undefined, "set by provision");
    await dp.provision();
    assert.deepEqual(await secretsOf(), first, "the dataplane's own live stack keeps them");
    await dp.deprovision();
    assert.deepEqual(await secretsOf(), {
      token: undefined,
      key: undefined,
      storeEnv: undefined,
      expireAt: undefined,
    });
    assert.equal(fs.existsSync(routeRecordFile(home, stack)), false, "no record left");
    for (const again of [dp, client.dataplane("local", "east", "local", "south")]) {
      await again.provision();
      const next = await secretsOf();
      assert.ok(next.token && next.key);
      assert.notEqual(next.token, first.token, "a new token");
      assert.notEqual(next.key, first.key, "a new key");
      await again.deprovision();
    }
  });

  it("are kept by a warm stack that is still up, and rotated (its gateways replaced) by any other provision", async () => {
    // Each warm job ends (its scope releases its lease on the route) and leaves the gateways up.
    const warmJob = () =>
      client
        .dataplane("local", "east", "local", "south", { keepWarmSeconds: 600 })
        .autoDeprovision((dp) => dp.provision());
    await warmJob();
    const warm = await secretsOf();
    const pids = gatewayPids(home, stack);
    assert.equal(pids.length, 2);

    await warmJob();
    const reused = await secretsOf();
    assert.deepEqual([reused.token, reused.key], [warm.token, warm.key], "the live secrets");
    assert.deepEqual(gatewayPids(home, stack), pids, "the same gateways");

    const cold = client.dataplane("local", "east", "local", "south");
    await cold.provision();
    const rotated = await secretsOf();
    assert.notEqual(rotated.token, warm.token);
    assert.notEqual(rotated.key, warm.key);
    const now = gatewayPids(home, stack);
    assert.equal(now.length, 2);
    assert.ok(
      now.every((p) => !pids.includes(p)),
      "new gateways",
    );
    for (const p of pids) assert.equal(liveStartTime(p), undefined, `old gateway ${p} stopped`);
    await cold.deprovision();
  });

  it("are blanked out of quoted engine output", () => {
    const token = "tok-0123456789";
    assert.equal(
      redact(`error: exited; log: auth ${token} failed; ${token}`, [token, "k3y"]),
      "error: exited; log: auth [secret] failed; [secret]",
    );
  });
});
