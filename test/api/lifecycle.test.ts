import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { SkyplaneClient } from "../../runner";
import { Engine } from "../../runner/engine";
import { listStacks } from "../../runner/stacks";
import { readRouteRecord, routeRecordFile } from "../../runner/route-record";

/** Pids of the gateways of `stack`, from the files they write once they listen. */
function gatewayPids(home: string, stack: string): number[] {
  const dir = path.join(home, "run", stack);
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")).pid)
        .sort()
    : [];
}

async function waitFor(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("api: dataplane lifecycle through the Pulumi engine", function () {
  this.timeout(180_000);
  let home: string;
  let client: SkyplaneClient;
  const stack = "local-north--local-south";

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-life-"));
    client = new SkyplaneClient({ home });
  });
  after(async () => {
    await client
      .dataplane("local", "north", "local", "south")
      .deprovision()
      .catch(() => undefined);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("reuses an up-to-date stack as it is, and keeps secrets out of plain state and logs", async () => {
    const dp = client.dataplane("local", "north", "local", "south");
    await dp.provision();
    const first = gatewayPids(home, stack);
    assert.equal(first.length, 2);
    await dp.provision();
    assert.deepEqual(gatewayPids(home, stack), first, "the same gateways, not restarted");
    for (const pid of first) assert.ok(liveStartTime(pid), `gateway ${pid} runs`);

    const found = await readRouteRecord(home, stack);
    assert.ok(found, "the route's record");
    const { token, key } = found.secrets;
    assert.ok(token.length >= 40 && key.length >= 40);
    const files = [
      path.join(home, "state", ".pulumi", "stacks", "skyplane", `${stack}.json`),
      path.join(home, "workspace", `Pulumi.${stack}.yaml`),
      routeRecordFile(home, stack),
      ...fs
        .readdirSync(path.join(home, "logs", stack))
        .map((f) => path.join(home, "logs", stack, f)),
    ];
    for (const f of files) {
      const text = fs.readFileSync(f, "utf8");
      assert.ok(!text.includes(token) && !text.includes(key), `${f} holds a secret in plain text`);
    }
    await dp.deprovision();
    for (const pid of first) assert.equal(liveStartTime(pid), undefined, `gateway ${pid} stopped`);
  });

  it("stops a provision that the guardrails refuse before any gateway starts", async () => {
    // Gateways without a TTL (0 minutes) would never end on their own: rule gateways-have-ttl.
    const dp = client.dataplane("local", "north", "local", "south", { ttlMinutes: 0 });
    await assert.rejects(dp.provision(), (err: Error & { code?: string }) => {
      assert.equal(err.code, "POLICY_VIOLATION");
      assert.match(err.message, /skyplane:local:Gateway \S+ breaks skyplane's guardrails/);
      assert.match(err.message, /\[mandatory\] gateways-have-ttl: the gateway has no TTL/);
      return true;
    });
    assert.deepEqual(gatewayPids(home, stack), [], "no gateway started");
    await dp.deprovision();
  });

  it("leaves a keep-warm dataplane up, whose gateways exit on their own at the TTL", async () => {
    {
      const dp = client.dataplane("local", "north", "local", "south", { keepWarmSeconds: 12 });
      await using _warm = dp.autoDeprovision();
      await dp.provision();
    }
    const pids = gatewayPids(home, stack);
    assert.equal(pids.length, 2);
    assert.ok(
      pids.every((p) => liveStartTime(p)),
      "still up after the scope ended",
    );
    await waitFor("the gateways to expire", () => pids.every((p) => !liveStartTime(p)), 45_000);
    // A later provision notices they are gone (refresh) and starts new ones.
    const dp = client.dataplane("local", "north", "local", "south");
    await dp.provision();
    const again = gatewayPids(home, stack);
    assert.equal(again.length, 2);
    assert.ok(again.every((p) => liveStartTime(p) && !pids.includes(p)));
    await dp.deprovision();
    const [info] = (await listStacks(await Engine.open({ home }))).filter((x) => x.name === stack);
    assert.equal(info.resources, 0, "empty after deprovision");
  });
});
