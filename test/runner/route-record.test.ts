import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  peekRouteRecord,
  readRouteRecord,
  RouteRecord,
  routeRecordFile,
  storeEnvDigest,
  warmMisfit,
  WarmNeeds,
  writeRouteRecord,
} from "../../runner/route-record";
import { ensureHome } from "../../runner/home";

const RECORD: RouteRecord = {
  version: 1,
  stack: "local-east--local-west",
  digest: "d1",
  plan: "2 gateway(s): local:east×1, local:west×1",
  gateways: [
    {
      id: "local-east-0",
      region: "local:east",
      source: true,
      host: "127.0.0.1",
      controlPort: 1,
      dataPort: 2,
      logFile: "/tmp/local-east-0.log",
    },
  ],
  granted: { read: ["local://a"], write: ["local://b"] },
  expireAt: 1_000_000,
  since: "2026-01-01T00:00:00.000Z",
};
const SECRETS = { token: "token-0123456789abcdef", key: "key-0123456789abcdef", storeEnv: "e1" };

describe("runner/route-record", () => {
  let home: string;
  const env = { PULUMI_CONFIG_PASSPHRASE: "a passphrase" };
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-record-"));
    ensureHome(home);
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it("keeps the record owner-only, its token and key sealed, and opens it again", async () => {
    await writeRouteRecord(home, RECORD, SECRETS, env);
    const file = routeRecordFile(home, RECORD.stack);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    const text = fs.readFileSync(file, "utf8");
    for (const secret of [SECRETS.token, SECRETS.key, SECRETS.storeEnv])
      assert.ok(!text.includes(`"${secret}"`), `${secret} in the clear`);
    assert.deepEqual(await readRouteRecord(home, RECORD.stack, env), {
      record: RECORD,
      secrets: SECRETS,
    });
    assert.deepEqual(peekRouteRecord(home, RECORD.stack), RECORD, "readable without secrets");
    assert.deepEqual(fs.readdirSync(path.dirname(file)), [path.basename(file)], "no temp file");
  });

  it("does not open under another passphrase, altered, or copied onto another route", async () => {
    await writeRouteRecord(home, RECORD, SECRETS, env);
    const file = routeRecordFile(home, RECORD.stack);
    assert.ok(await readRouteRecord(home, RECORD.stack, env), "opens as written");
    assert.equal(
      await readRouteRecord(home, RECORD.stack, { PULUMI_CONFIG_PASSPHRASE: "another" }),
      undefined,
    );
    const stored = JSON.parse(fs.readFileSync(file, "utf8"));
    const other = "local-east--local-north";
    fs.writeFileSync(routeRecordFile(home, other), JSON.stringify({ ...stored, stack: other }));
    assert.equal(await readRouteRecord(home, other, env), undefined, "bound to its stack");
    const data = Buffer.from(stored.sealed.data, "base64");
    data[0] ^= 1;
    const altered = { ...stored, sealed: { ...stored.sealed, data: data.toString("base64") } };
    fs.writeFileSync(file, JSON.stringify(altered));
    assert.equal(await readRouteRecord(home, RECORD.stack, env), undefined, "altered");
    fs.writeFileSync(file, "{not json");
    assert.equal(await readRouteRecord(home, RECORD.stack, env), undefined, "garbled");
    assert.equal(peekRouteRecord(home, RECORD.stack), undefined);
    assert.equal(await readRouteRecord(home, "local-nowhere--local-none", env), undefined);
  });

  it("digests store environments by content, not by the order of their variables", () => {
    const a = storeEnvDigest({ AWS_REGION: "r", AWS_ACCESS_KEY_ID: "k" });
    assert.equal(a, storeEnvDigest({ AWS_ACCESS_KEY_ID: "k", AWS_REGION: "r" }));
    assert.notEqual(a, storeEnvDigest({ AWS_ACCESS_KEY_ID: "k2", AWS_REGION: "r" }));
    assert.notEqual(a, storeEnvDigest({}));
  });

  it("says why a record's gateways do not fit a job, and nothing when they do", () => {
    const found = { record: RECORD, secrets: SECRETS };
    const needs: WarmNeeds = {
      digest: "d1",
      buckets: { read: ["local://a"], write: ["local://b"] },
      storeEnv: "e1",
      now: 900_000,
      marginMs: 60_000,
    };
    const cases: Array<[string, Parameters<typeof warmMisfit>[0], Partial<WarmNeeds>, string?]> = [
      ["fits", found, {}, undefined],
      ["no jobs yet", found, { buckets: { read: [], write: [] } }, undefined],
      ["nothing recorded", undefined, {}, "no-record"],
      [
        "not kept warm",
        { record: { ...RECORD, expireAt: undefined }, secrets: SECRETS },
        {},
        "not-kept-warm",
      ],
      ["another topology", found, { digest: "d2" }, "topology-changed"],
      ["expiry within the margin", found, { now: 940_001 }, "expiry-near"],
      ["expired", found, { now: 2_000_000 }, "expiry-near"],
      ["at the margin", found, { now: 940_000 }, undefined],
      [
        "another bucket to read",
        found,
        { buckets: { read: ["local://c"], write: ["local://b"] } },
        "buckets-not-granted",
      ],
      [
        "a read-only bucket to write",
        found,
        { buckets: { read: [], write: ["local://a"] } },
        "buckets-not-granted",
      ],
      ["other store credentials", found, { storeEnv: "e2" }, "store-env-changed"],
    ];
    assert.equal(cases.length, 11);
    for (const [what, f, change, want] of cases)
      assert.equal(warmMisfit(f, { ...needs, ...change }), want, what);
  });
});
