import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import awsPackage from "@pulumi/aws/package.json";
import gcpPackage from "@pulumi/gcp/package.json";
import { CLOUD_TTL_MINUTES } from "../../common/ttl";
import type { CloudSettings } from "../../planner/cloud-settings";
import { planDirect } from "../../planner/direct";
import { buildModel } from "../../planner/model";
import { AWSConfig, GCPConfig, SkyplaneClient } from "../../runner";
import { dataplaneTtlMinutes, resolveCloudSettings, transferTtlMinutes } from "../../runner/cloud";
import type { CredentialProbe } from "../../runner/credentials";
import { Engine, findEngineRoot } from "../../runner/engine";

/*
 * A cloud route before anything is created: the settings the runner assembles for its stack (no image
 * among them), the clear errors a user gets, through the real engine, when credentials, settings or
 * provider plugins are missing, and a copy from S3 to GCS with nothing but credentials that gets past
 * every check to the engine's `up`.
 */
describe("api: provisioning a cloud route", function () {
  this.timeout(120_000);
  const topology = planDirect({ src: "aws:us-east-1", dsts: ["gcp:us-central1-a"] }, buildModel());
  const complete: Partial<CloudSettings> = {
    clientCidr: "203.0.113.7/32",
    gcp: { project: "my-project" },
  };
  const now = Date.UTC(2026, 10, 27, 12);
  const jobs = [{ src: "s3://src-bucket/data/", dst: "gs://dst-bucket/data/" }];
  /** A machine signed in to AWS (a profile) and to GCP (gcloud's login naming a quota project). */
  const signedIn: CredentialProbe = {
    env: { AWS_PROFILE: "prod" },
    home: "/home/u",
    exists: (f) => f === "/home/u/.config/gcloud/application_default_credentials.json",
    read: (f) =>
      f === "/home/u/.config/gcloud/application_default_credentials.json"
        ? '{"type":"authorized_user","quota_project_id":"adc-project"}'
        : undefined,
  };

  it("assembles the stack's settings: buckets from the jobs, the client from the environment, an expiry kept while it leaves half the TTL", () => {
    const s = resolveCloudSettings(topology, "r", {
      client: { ...complete, clientCidr: undefined },
      jobs,
      env: { SKYPLANE_CLIENT_CIDR: "198.51.100.9/32" },
      probe: signedIn,
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
      probe: signedIn,
      now,
    });
    assert.equal(again.expireAt, kept, "a reused stack keeps its expiry (and so its VMs)");
    assert.deepEqual(again.buckets, s.buckets, "and its buckets");
    const stale = resolveCloudSettings(topology, "r", {
      stack: { ...s, expireAt: now + 30 * 60_000 },
      jobs: [],
      probe: signedIn,
      now,
    });
    assert.equal(
      stale.expireAt,
      now + CLOUD_TTL_MINUTES * 60_000,
      "renewed when under half the TTL is left",
    );
  });

  it("needs no image, takes the GCP project and the Azure account from the credentials, and keeps Azure's SSH key", () => {
    const s = resolveCloudSettings(topology, "r", {
      client: { clientCidr: "203.0.113.7/32" },
      jobs,
      probe: signedIn,
      now,
    });
    assert.equal(s.gcp?.project, "adc-project", "gcloud's quota project");
    assert.equal(s.aws, undefined, "no AMI");
    assert.deepEqual(Object.keys(s.gcp ?? {}), ["project"], "no image");
    const toAzure = planDirect({ src: "aws:us-east-1", dsts: ["azure:westeurope"] }, buildModel());
    const azureIn: CredentialProbe = {
      ...signedIn,
      env: {
        AWS_PROFILE: "prod",
        ARM_SUBSCRIPTION_ID: "sub",
        ARM_TENANT_ID: "ten",
        ARM_USE_MSI: "true",
      },
    };
    const azureJobs = [{ src: "s3://src-bucket/", dst: "azure://acct/dst/" }];
    const first = resolveCloudSettings(toAzure, "r", {
      client: {
        clientCidr: "203.0.113.7/32",
        azure: { storageAccountId: "/subscriptions/sub/x" } as CloudSettings["azure"],
      },
      jobs: azureJobs,
      probe: azureIn,
      now,
    });
    assert.equal(first.azure?.subscriptionId, "sub");
    assert.equal(first.azure?.tenantId, "ten");
    assert.match(
      first.azure?.sshPublicKey ?? "",
      /^ssh-rsa [A-Za-z0-9+/=]+ skyplane-gateway-no-login$/,
    );
    const next = resolveCloudSettings(toAzure, "r", {
      stack: first,
      jobs: azureJobs,
      probe: azureIn,
      now,
    });
    assert.equal(
      next.azure?.sshPublicKey,
      first.azure?.sshPublicKey,
      "the stack's key stays (its VMs too)",
    );
  });

  it("refuses, before anything else, a route whose clouds show no credentials", () => {
    assert.throws(
      () =>
        resolveCloudSettings(topology, "r", {
          client: complete,
          jobs,
          probe: { ...signedIn, env: {}, exists: () => false, read: () => undefined },
          now,
        }),
      (e: Error & { code?: string }) =>
        e.code === "NO_CREDENTIALS" && /^no credentials for aws, gcp, which/.test(e.message),
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
    /** Variables through which this machine's own credentials or settings could leak into a test. */
    const ISOLATED: Record<string, string | undefined> = {
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
      AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/skyplane-test/aws-credentials",
      AWS_CONFIG_FILE: "/nonexistent/skyplane-test/aws-config",
      AWS_EC2_METADATA_DISABLED: "true",
      GOOGLE_APPLICATION_CREDENTIALS: undefined,
      GOOGLE_CREDENTIALS: undefined,
      GOOGLE_OAUTH_ACCESS_TOKEN: undefined,
      GOOGLE_CLOUD_PROJECT: undefined,
      GOOGLE_PROJECT: undefined,
      GCLOUD_PROJECT: undefined,
      CLOUDSDK_CORE_PROJECT: undefined,
      CLOUDSDK_CONFIG: "/nonexistent/skyplane-test/gcloud",
      SKYPLANE_CLIENT_CIDR: undefined,
    };
    /** Runs `fn` with the process's environment set as `vars` say (undefined: unset), then restores it. */
    async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>) {
      const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
      const apply = (v: Record<string, string | undefined>) => {
        for (const [k, value] of Object.entries(v))
          if (value === undefined) delete process.env[k];
          else process.env[k] = value;
      };
      apply(vars);
      try {
        return await fn();
      } finally {
        apply(saved);
      }
    }
    /** A service account key file as GCP issues one (its key is no key: nothing ever reads it). */
    function gcpKeyFile(dir: string, project?: string): string {
      const file = path.join(dir, "gcp-key.json");
      fs.writeFileSync(
        file,
        JSON.stringify({
          type: "service_account",
          ...(project ? { project_id: project } : {}),
          client_email: "skyplane-test@example.iam.gserviceaccount.com",
          private_key: "not a key",
        }),
        { mode: 0o600 },
      );
      return file;
    }
    const awsKeys = () =>
      new AWSConfig({ accessKeyId: "AKIAEXAMPLEEXAMPLE00", secretAccessKey: "not-a-secret" });

    before(() => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-cloud-"));
    });
    after(() => fs.rmSync(home, { recursive: true, force: true }));

    it("names the clouds without credentials, then every missing setting and how to set it, and creates nothing", async () => {
      // Clients take the process's environment when they are made: each is made in the isolated one.
      const stackName = await withEnv(ISOLATED, async () => {
        const noCredentials = new SkyplaneClient({ home });
        await assert.rejects(
          noCredentials.dataplane("aws", "us-east-1", "gcp", "us-central1-a").provision(),
          (err: Error & { code?: string }) => {
            assert.equal(err.code, "NO_CREDENTIALS");
            assert.match(
              err.message,
              /^no credentials for aws, gcp, which the route's gateways are on:/,
            );
            assert.match(err.message, /\n {2}aws: set AWS_PROFILE/);
            return true;
          },
        );
        const client = new SkyplaneClient({
          home,
          aws: awsKeys(),
          gcp: new GCPConfig({ keyFilename: gcpKeyFile(home) }),
        });
        const dp = client.dataplane("aws", "us-east-1", "gcp", "us-central1-a");
        await assert.rejects(dp.provision(), (err: Error & { code?: string }) => {
          assert.equal(err.code, "MISSING_CLOUD_SETTINGS");
          assert.match(
            err.message,
            /clientCidr: your public address as a CIDR: SKYPLANE_CLIENT_CIDR=/,
          );
          assert.match(err.message, /buckets: queue the copies before provision\(\)/);
          assert.match(err.message, /gcp\.project: set GOOGLE_CLOUD_PROJECT/);
          assert.doesNotMatch(err.message, /\bami|image\b/i, "no image is asked for");
          return true;
        });
        return dp.stackName;
      });
      const engine = await Engine.open({ home });
      const stack = await engine.stack(stackName, async () => ({}));
      assert.equal(
        (await stack.exportStack()).deployment?.resources?.length ?? 0,
        0,
        "nothing was created",
      );
    });

    it("says which provider plugins to install, with the exact command, before creating anything", async () => {
      await withEnv(ISOLATED, async () => {
        const client = new SkyplaneClient({
          home,
          aws: awsKeys(),
          gcp: new GCPConfig({ keyFilename: gcpKeyFile(home) }),
          cloud: complete,
        });
        const dp = client.dataplane("aws", "us-east-1", "gcp", "us-central1-a");
        dp.queueCopy("s3://src-bucket/data/", "gs://dst-bucket/data/", { recursive: true });
        await assert.rejects(dp.provision(), (err: Error & { code?: string }) => {
          assert.equal(err.code, "PROVIDER_PLUGIN_MISSING");
          const aws = awsPackage.version;
          const gcp = gcpPackage.version;
          assert.match(
            err.message,
            new RegExp(`lacks the provider plugins aws ${aws}, gcp ${gcp}`),
          );
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

    it("copies s3://…/x to gs://…/x with only credentials and the plugins: past every check, into the engine's `up`", async function () {
      this.timeout(300_000);
      const own = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-cloud-up-"));
      try {
        // The plugins as `pulumi plugin install` leaves them, but each a stand-in that cannot run (this
        // machine has no provider plugins): the engine finds them, starts them in `up`, and fails there.
        const plugins = path.join(own, "pulumi", "plugins");
        for (const [name, version] of [
          ["aws", awsPackage.version],
          ["gcp", gcpPackage.version],
        ]) {
          const dir = path.join(plugins, `resource-${name}-v${version}`);
          fs.mkdirSync(dir, { recursive: true });
          fs.writeFileSync(
            path.join(dir, `pulumi-resource-${name}`),
            `#!/bin/sh\necho "skyplane test: no ${name} provider plugin on this machine" >&2\nexit 1\n`,
            { mode: 0o755 },
          );
        }
        // In a process of its own: the failed `up` leaves the inline program's registrations pending
        // in the process that ran it, where every later inline `up` of this suite would hang on them.
        const env: NodeJS.ProcessEnv = { ...process.env };
        for (const [k, v] of Object.entries({
          ...ISOLATED,
          SKYPLANE_CLIENT_CIDR: "203.0.113.7/32",
          SKYPLANE_TEST_HOME: own,
          SKYPLANE_TEST_GCP_KEY: gcpKeyFile(own, "key-project"),
        }))
          if (v === undefined) delete env[k];
          else env[k] = v;
        const child = spawnSync(
          process.execPath,
          ["--enable-source-maps", require.resolve("../helpers/cloud-up-child")],
          { env, encoding: "utf8", timeout: 240_000 },
        );
        assert.equal(child.status, 0, `the copy's process failed: ${child.stderr}`);
        const err = JSON.parse(child.stdout.trim().split("\n").pop() as string) as {
          code?: string;
          message: string;
          succeeded?: boolean;
        };
        assert.ok(!err.succeeded, "the copy cannot succeed without real plugins");
        // Not a settings, credentials or plugin check: the engine ran `up`, and the provider failed in it.
        assert.equal(err.code, "PROVISION_FAILED", err.message);
        assert.match(err.message, /provisioning stack aws-us-east-1--gcp-us-central1-a failed/);
        assert.match(err.message, /skyplane test: no (aws|gcp) provider plugin on this machine/);
        assert.match(
          err.message,
          // The engine says so in one of two ways, depending on when the plugin's exit is seen.
          /(could not read plugin \[|Detected that )\S+\/resource-(aws|gcp)-v[\d.]+\/pulumi-resource-(aws|gcp)\b/,
        );
        const engine = await Engine.open({ home: own });
        const stack = await engine.stack("aws-us-east-1--gcp-us-central1-a", async () => ({}));
        const config = await stack.getAllConfig();
        const cloud = JSON.parse(config["skyplane:cloud"].value) as CloudSettings;
        assert.deepEqual(
          { gcp: cloud.gcp, aws: cloud.aws, clientCidr: cloud.clientCidr, buckets: cloud.buckets },
          {
            gcp: { project: "key-project" },
            aws: undefined,
            clientCidr: "203.0.113.7/32",
            buckets: { read: ["s3://src-bucket/x"], write: ["gs://dst-bucket/x"] },
          },
          "the project from the key file, and no image",
        );
        const left = ((await stack.exportStack()).deployment?.resources ?? []) as Array<{
          type: string;
        }>;
        assert.deepEqual(
          left.filter((r) => !/^(pulumi|skyplane):/.test(r.type)).map((r) => r.type),
          [],
          "no cloud resource was created",
        );
      } finally {
        fs.rmSync(own, { recursive: true, force: true });
      }
    });
  });
});
