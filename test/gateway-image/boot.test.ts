import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import {
  ArtifactRef,
  BootSpec,
  renderBootScript,
  SecretRef,
  SYSCTL,
} from "../../gateway-image/boot";
import { NODE_RUNTIME } from "../../gateway-image/node-runtime";
import { GATEWAY_PROGRAM_VERSION, GatewayProgram } from "../../planner/program";

const GOLDEN = path.resolve(__dirname, "..", "..", "..", "test", "gateway-image", "golden");

const program: GatewayProgram = {
  version: GATEWAY_PROGRAM_VERSION,
  gatewayId: "aws-us-east-1-0",
  region: "aws:us-east-1",
  operators: [
    {
      op: "read_object_store",
      next: {
        op: "send",
        target: { gatewayId: "gcp-us-central1-a-0", host: "10.1.2.3", port: 8081 },
        connections: 32,
        compress: "zstd",
        encrypt: true,
      },
    },
  ],
};

const secrets: Record<string, SecretRef> = {
  aws: {
    provider: "aws",
    secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:skyplane-dp",
    region: "us-east-1",
  },
  gcp: { provider: "gcp", secret: "skyplane-dp", project: "my-project" },
  azure: { provider: "azure", vault: "skyplane-kv", secret: "skyplane-dp" },
};

const BUNDLE_SHA = "5".repeat(64);
const artifacts: Record<string, ArtifactRef> = {
  aws: {
    provider: "aws",
    region: "us-east-1",
    bucket: "skyplane-artifacts-a1b2",
    key: `gateway/${BUNDLE_SHA}/skyplane-gateway-0.1.0-linux-x64.tar.gz`,
  },
  gcp: {
    provider: "gcp",
    bucket: "skyplane-artifacts-a1b2",
    object: `gateway/${BUNDLE_SHA}/skyplane-gateway-0.1.0-linux-x64.tar.gz`,
  },
  azure: {
    provider: "azure",
    account: "skyplaneartifacts",
    container: "artifacts",
    blob: `gateway/${BUNDLE_SHA}/skyplane-gateway-0.1.0-linux-x64.tar.gz`,
  },
};

const spec = (ref: SecretRef): BootSpec => ({
  program,
  secrets: ref,
  bundle: { artifact: artifacts[ref.provider], sha256: BUNDLE_SHA },
  node: { url: NODE_RUNTIME.url, sha256: NODE_RUNTIME.sha256 },
  controlPort: 8080,
  dataPort: 8081,
  expireAt: Date.UTC(2026, 10, 27, 14, 0, 0),
});

describe("gateway-image/boot: the rendered cloud-init", () => {
  for (const [provider, ref] of Object.entries(secrets)) {
    it(`renders the ${provider} boot script as its golden file`, () => {
      const rendered = renderBootScript(spec(ref));
      const file = path.join(GOLDEN, `${provider}.yaml`);
      if (process.env.SKYPLANE_UPDATE_GOLDEN === "1") fs.writeFileSync(file, rendered);
      assert.equal(
        rendered,
        fs.readFileSync(file, "utf8"),
        `${file} (SKYPLANE_UPDATE_GOLDEN=1 rewrites it)`,
      );
    });
  }

  const file = (
    doc: { write_files: Array<{ path: string; permissions: string; content: string }> },
    p: string,
  ) => {
    const found = doc.write_files.find((f) => f.path === p);
    assert.ok(found, `writes ${p}`);
    return found;
  };
  const runcmd = (doc: { runcmd: unknown[][] }) => doc.runcmd.map((c) => c.join(" "));

  it("is valid cloud-init that carries the program, the tuning and no secret", () => {
    const doc = parse(renderBootScript(spec(secrets.aws)));
    assert.deepEqual(JSON.parse(file(doc, "/etc/skyplane/program.json").content), program);
    assert.equal(file(doc, "/etc/sysctl.d/60-skyplane.conf").content.trim(), SYSCTL.join("\n"));
    const text = JSON.stringify(doc);
    assert.doesNotMatch(
      text,
      /SKYPLANE_GATEWAY_TOKEN=[^\\]/,
      "the token is fetched at boot, not written here",
    );
    assert.ok(
      runcmd(doc).some((c) => c.includes(`--expire-at ${spec(secrets.aws).expireAt}`)),
      "the daemon knows its expiry too",
    );
  });

  for (const [provider, ref] of Object.entries(secrets))
    it(`${provider}: keeps the token and key in memory (/run), readable by root only, never on disk`, () => {
      const doc = parse(renderBootScript(spec(ref)));
      const commands = runcmd(doc);
      const fetch = commands.find((c) => c.includes("SKYPLANE_GATEWAY_TOKEN"));
      assert.ok(fetch, "fetches the secrets");
      assert.match(fetch, /^sh -c umask 077 && /, "created 0600");
      assert.match(fetch, /> \/run\/skyplane\/secrets\.env$/, "into /run, a tmpfs");
      assert.ok(
        commands.some((c) => c.includes("mkdir -p -m 0700 /run/skyplane")),
        "a root-only directory in memory",
      );
      const run = commands.find((c) => c.includes("docker run"));
      assert.match(run ?? "", /--env-file \/run\/skyplane\/secrets\.env /);
      assert.doesNotMatch(JSON.stringify(doc), /\/etc\/skyplane\/secrets/, "nothing under /etc");
    });

  it("ends the VM at an absolute deadline that a reboot does not cancel", () => {
    const doc = parse(renderBootScript(spec(secrets.aws)));
    assert.ok(
      !runcmd(doc).some((c) => /shutdown|systemd-run/.test(c)),
      "no relative timer that a reboot forgets",
    );
    const timer = file(doc, "/etc/systemd/system/skyplane-expire.timer").content;
    assert.match(timer, /^OnCalendar=2026-11-27 14:00:00 UTC$/m, "the wall-clock deadline");
    assert.match(timer, /^OnBootSec=\d+s$/m, "checked again after every boot");
    assert.match(timer, /^OnUnitActiveSec=60s$/m, "and every minute, retrying a failed ending");
    assert.match(timer, /^WantedBy=timers\.target$/m, "enabled, so re-armed at every boot");
    assert.match(
      file(doc, "/etc/systemd/system/skyplane-expire.service").content,
      /^ExecStart=\/usr\/local\/sbin\/skyplane-expire$/m,
    );
    assert.equal(file(doc, "/usr/local/sbin/skyplane-expire").permissions, "0755");
    assert.ok(runcmd(doc).includes("systemctl enable --now skyplane-expire.timer"));
  });

  describe("the expiry script, run with stand-ins for date and the cloud tools", () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-boot-"));
      // Every stand-in records how it was called; curl answers as each cloud's metadata service would,
      // and `date +%s` answers the time the test sets.
      const answers: Record<string, string> = {
        curl: 'case "$*" in *google*) echo projects/123/zones/us-central1-a;; *) echo /subscriptions/s/vm;; esac',
        hostname: "echo gw-vm",
      };
      for (const tool of ["systemctl", "gcloud", "az", "curl", "hostname"])
        fs.writeFileSync(
          path.join(dir, tool),
          `#!/bin/sh\necho "${tool} $*" >> "$CALLS"\n${answers[tool] ?? ""}\n`,
          { mode: 0o755 },
        );
      fs.writeFileSync(path.join(dir, "date"), '#!/bin/sh\necho "$FAKE_NOW"\n', { mode: 0o755 });
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const expire = (ref: SecretRef, nowSeconds: number): string[] => {
      const doc = parse(renderBootScript(spec(ref)));
      const script = path.join(dir, `expire-${ref.provider}`);
      fs.writeFileSync(script, file(doc, "/usr/local/sbin/skyplane-expire").content);
      const calls = path.join(dir, `calls-${ref.provider}-${nowSeconds}`);
      fs.writeFileSync(calls, "");
      const ran = spawnSync("/bin/sh", [script], {
        env: {
          PATH: `${dir}:/usr/bin:/bin`,
          FAKE_NOW: String(nowSeconds),
          CALLS: calls,
        },
        encoding: "utf8",
      });
      assert.equal(ran.status, 0, ran.stderr);
      return fs.readFileSync(calls, "utf8").split("\n").filter(Boolean);
    };
    const deadline = spec(secrets.aws).expireAt / 1000;

    it("does nothing before the deadline, on any cloud", () => {
      for (const ref of Object.values(secrets)) assert.deepEqual(expire(ref, deadline - 1), []);
    });

    it("AWS: powers off at the deadline (the instance terminates on shutdown)", () => {
      assert.deepEqual(expire(secrets.aws, deadline), ["systemctl poweroff"]);
      assert.deepEqual(expire(secrets.aws, deadline + 86_400), ["systemctl poweroff"]);
    });

    it("GCP and Azure: delete their own VM once past the deadline", () => {
      const gcp = expire(secrets.gcp, deadline + 5);
      assert.equal(
        gcp.at(-1),
        "gcloud compute instances delete gw-vm --zone us-central1-a --quiet",
      );
      const azure = expire(secrets.azure, deadline + 5);
      assert.deepEqual(azure.slice(0, 1), ["az login --identity"]);
      assert.match(azure.at(-1) ?? "", /^az vm delete --yes --ids \/subscriptions\/s\/vm$/);
    });
  });
});
