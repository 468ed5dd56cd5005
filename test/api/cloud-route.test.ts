import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import awsPackage from "@pulumi/aws/package.json";
import gcpPackage from "@pulumi/gcp/package.json";
import { CLOUD_TTL_MINUTES } from "../../common/ttl";
import type { CloudSettings } from "../../planner/cloud-settings";
import { planDirect } from "../../planner/direct";
import { buildModel } from "../../planner/model";
import { SkyplaneClient } from "../../runner";
import { dataplaneTtlMinutes, resolveCloudSettings, transferTtlMinutes } from "../../runner/cloud";
import { Engine, findEngineRoot } from "../../runner/engine";

/*
 * A cloud route before anything is created: the settings the runner assembles for its stack, and the
 * clear errors a user gets, through the real engine, when settings or provider plugins are missing.
 */
describe("api: provisioning a cloud route", function () {
  this.timeout(120_000);
  const topology = planDirect({ src: "aws:us-east-1", dsts: ["gcp:us-central1-a"] }, buildModel());
  const complete: Partial<CloudSettings> = {
    clientCidr: "203.0.113.7/32",
    aws: { amis: { "aws:us-east-1": "ami-0123456789abcdef0" } },
    gcp: { project: "my-project", image: "projects/my-project/global/images/skyplane-gateway" },
  };
  const now = Date.UTC(2026, 10, 27, 12);
  const jobs = [{ src: "s3://src-bucket/data/", dst: "gs://dst-bucket/data/" }];

  it("assembles the stack's settings: buckets from the jobs, the client from the environment, an expiry kept while it leaves half the TTL", () => {
    const s = resolveCloudSettings(topology, "r", {
      client: { ...complete, clientCidr: undefined },
      jobs,
      env: { SKYPLANE_CLIENT_CIDR: "198.51.100.9/32" },
      now,
    });
    assert.equal(s.clientCidr, "198.51.100.9/32");
    assert.deepEqual(s.buckets, {
      read: ["s3://src-bucket/data/"],
      write: ["gs://dst-bucket/data/"],
    });
    assert.equal(s.expireAt, now + CLOUD_TTL_MINUTES * 60_000);
    const kept = now + 100 * 60_000;
    const again = resolveCloudSettings(topology, "r", {
      stack: { ...s, expireAt: kept },
      jobs: [],
      now,
    });
    assert.equal(again.expireAt, kept, "a reused stack keeps its expiry (and so its VMs)");
    assert.deepEqual(again.buckets, s.buckets, "and its buckets");
    const stale = resolveCloudSettings(topology, "r", {
      stack: { ...s, expireAt: now + 30 * 60_000 },
      jobs: [],
      now,
    });
    assert.equal(
      stale.expireAt,
      now + CLOUD_TTL_MINUTES * 60_000,
      "renewed when under half the TTL is left",
    );
  });

  it("sizes the gateways' TTL to outlast the transfer: three times its planned time and half an hour, up to a day", () => {
    const TB = 1e12;
    assert.equal(
      transferTtlMinutes(TB, 4.5, CLOUD_TTL_MINUTES),
      120,
      "1 TB in 30 min: the default",
    );
    assert.equal(transferTtlMinutes(10 * TB, 4.5, CLOUD_TTL_MINUTES), 919, "10 TB in 4.9 h");
    assert.equal(transferTtlMinutes(100 * TB, 4.5, CLOUD_TTL_MINUTES), 1440, "at most a day");
    assert.equal(transferTtlMinutes(0, 4.5, 720), 720);
    assert.equal(transferTtlMinutes(TB, 0, 120), 1440, "no estimate: as long as allowed");
  });

  it("keeps a keep-warm gateway's TTL at least as long as its warm period", () => {
    assert.equal(dataplaneTtlMinutes({}, 720), undefined, "the stack's default");
    assert.equal(
      dataplaneTtlMinutes({ keepWarmSeconds: 600 }, 720),
      undefined,
      "10 min fit in 12 h",
    );
    assert.equal(dataplaneTtlMinutes({ keepWarmSeconds: 16 * 3600 }, 720), 960);
    assert.equal(dataplaneTtlMinutes({ ttlMinutes: 30, keepWarmSeconds: 3600 }, 120), 60);
    assert.equal(dataplaneTtlMinutes({ ttlMinutes: 300 }, 120), 300);
    assert.equal(dataplaneTtlMinutes({ keepWarmSeconds: 3 * 86400 }, 120), 1440, "at most a day");
  });

  describe("through the engine", () => {
    let home: string;
    before(() => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-cloud-"));
    });
    after(() => fs.rmSync(home, { recursive: true, force: true }));

    it("names every missing setting and how to set it, and creates nothing", async () => {
      const client = new SkyplaneClient({ home, cloud: { aws: { amis: {} } } });
      const dp = client.dataplane("aws", "us-east-1", "gcp", "us-central1-a");
      const env = process.env.SKYPLANE_CLIENT_CIDR;
      delete process.env.SKYPLANE_CLIENT_CIDR;
      try {
        await assert.rejects(dp.provision(), (err: Error & { code?: string }) => {
          assert.equal(err.code, "MISSING_CLOUD_SETTINGS");
          assert.match(
            err.message,
            /clientCidr: your public address as a CIDR: SKYPLANE_CLIENT_CIDR=/,
          );
          assert.match(err.message, /buckets: queue the copies before provision\(\)/);
          assert.match(
            err.message,
            /aws\.amis\["aws:us-east-1"\]: pulumi config set --path 'skyplane:cloud\.aws\.amis\["aws:us-east-1"\]' VALUE --stack aws-us-east-1--gcp-us-central1-a/,
          );
          assert.match(err.message, /gcp\.project: .*\n {2}gcp\.image: /);
          return true;
        });
      } finally {
        if (env !== undefined) process.env.SKYPLANE_CLIENT_CIDR = env;
      }
      const engine = await Engine.open({ home });
      const stack = await engine.stack(dp.stackName, async () => ({}));
      assert.equal(
        (await stack.exportStack()).deployment?.resources?.length ?? 0,
        0,
        "nothing was created",
      );
    });

    it("says which provider plugins to install, with the exact command, before creating anything", async () => {
      const client = new SkyplaneClient({ home, cloud: complete });
      const dp = client.dataplane("aws", "us-east-1", "gcp", "us-central1-a");
      dp.queueCopy("s3://src-bucket/data/", "gs://dst-bucket/data/", { recursive: true });
      await assert.rejects(dp.provision(), (err: Error & { code?: string }) => {
        assert.equal(err.code, "PROVIDER_PLUGIN_MISSING");
        const aws = awsPackage.version;
        const gcp = gcpPackage.version;
        assert.match(err.message, new RegExp(`lacks the provider plugins aws ${aws}, gcp ${gcp}`));
        assert.ok(
          err.message.includes(
            `PULUMI_HOME=${path.join(home, "pulumi")} ${path.join(findEngineRoot(), "bin", "pulumi")} plugin install resource aws ${aws}`,
          ),
          err.message,
        );
        return true;
      });
    });
  });
});
