import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ArtifactRef, BOOT_PATHS, BootSpec, SecretRef } from "../../gateway-image/boot";
import { GATEWAY_PROGRAM_VERSION } from "../../planner/program";
import {
  cloudStandIn,
  filesUnder,
  Sandbox,
  sandbox,
  SECRET_FORMS,
  SECRETS,
  SeenRequest,
  tarball,
  VM,
} from "./boot-stand-ins";

/*
 * What the boot script does, run (unprivileged, paths moved into a private folder) against stand-ins of
 * each cloud's metadata service, artifacts store, secret store and compute API on loopback: it installs,
 * checks, reads and starts what it should; no secret ever reaches a command line or a file outside
 * /run/skyplane; a bad hash or an unreadable secret ends the VM the cloud's way; the expiry ends it too.
 */

type Provider = SecretRef["provider"];
const PROVIDERS: Provider[] = ["aws", "gcp", "azure"];
const OBJECT = "gateway/0123/skyplane-gateway-0.1.0-linux-x64.tar.gz";

const secretsOf: Record<Provider, SecretRef> = {
  aws: {
    provider: "aws",
    secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:dp",
    region: "us-east-1",
  },
  gcp: { provider: "gcp", secret: "dp", project: VM.gcp.project },
  azure: { provider: "azure", vault: "skyplane-kv", secret: "dp" },
};
const artifactOf: Record<Provider, ArtifactRef> = {
  aws: { provider: "aws", region: "us-east-1", bucket: "skyplane-artifacts", key: OBJECT },
  gcp: { provider: "gcp", bucket: "skyplane-artifacts", object: OBJECT },
  azure: { provider: "azure", account: "acct", container: "artifacts", blob: OBJECT },
};

/** Every endpoint of the spec at the stand-in. */
function endpointsAt(url: string): BootSpec["endpoints"] {
  return {
    awsMetadata: url,
    s3: url,
    secretsManager: url,
    gcpMetadata: url,
    gcs: url,
    gcpSecretManager: url,
    gcpCompute: url,
    azureMetadata: url,
    azureBlob: url,
    azureKeyVault: url,
    azureManagement: url,
  };
}

describe("gateway-image/boot: the boot script, run against stand-ins of each cloud", function () {
  this.timeout(60_000);
  let dir: string;
  let box: Sandbox;
  const closers: Array<() => Promise<void>> = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-boot-run-"));
    box = sandbox(dir);
  });
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const bundle = () => tarball(dir, { "skyplane-gateway/main.js": "// the gateway\n" }, "z");

  /** Starts the stand-in and returns a spec whose every endpoint is it. */
  async function setUp(
    provider: Provider,
    opts: {
      bundleSha?: string;
      nodeUrl?: boolean;
      nodeSha?: string;
      secret?: string;
      secretStatus?: number;
      deleteStatus?: number;
      expireAt?: number;
    } = {},
  ): Promise<{ spec: BootSpec; seen: SeenRequest[] }> {
    const b = bundle();
    const node = opts.nodeUrl
      ? tarball(
          dir,
          {
            "node-v0-linux-x64/bin/node": `#!/bin/sh\nprintf '%s\\n' "node $*" >>"$CALLS"\nexec ${process.execPath} "$@"\n`,
          },
          "J",
        )
      : undefined;
    const standIn = await cloudStandIn(provider, {
      bundle: b.bytes,
      nodeTarball: node?.bytes,
      secret: opts.secret,
      secretStatus: opts.secretStatus,
      deleteStatus: opts.deleteStatus,
    });
    closers.push(standIn.close);
    const spec: BootSpec = {
      program: {
        version: GATEWAY_PROGRAM_VERSION,
        gatewayId: `${provider}-gw-0`,
        region: `${provider}:somewhere`,
        operators: [{ op: "receive", encrypted: true, next: { op: "write_object_store" } }],
      },
      secrets: secretsOf[provider],
      controlPort: 8080,
      dataPort: 8081,
      expireAt: opts.expireAt ?? Date.now() + 3600_000,
      bundle: { artifact: artifactOf[provider], sha256: opts.bundleSha ?? b.sha256 },
      node: node
        ? {
            url: `${standIn.url}/node/node-v0-linux-x64.tar.xz`,
            sha256: opts.nodeSha ?? node.sha256,
          }
        : { fromImage: path.join(box.bin, "node") },
      endpoints: endpointsAt(standIn.url),
    };
    return { spec, seen: standIn.seen };
  }

  /** Asserts what no run may do, whatever its outcome: secrets on argv or in files outside /run. */
  function assertSecretsKept(): void {
    const calls = box.calls();
    assert.ok(calls.length >= 5, `looked at ${calls.length} commands`);
    for (const [name, value] of Object.entries(SECRET_FORMS))
      for (const call of calls)
        assert.ok(!call.includes(value), `${name} on a command line: ${call}`);
    const files = filesUnder(box.root);
    assert.ok(files.length >= 7, `looked at ${files.length} files`);
    const run = box.at(BOOT_PATHS.run);
    for (const file of files) {
      const text = fs.readFileSync(file, "utf8");
      const held = Object.entries(SECRET_FORMS).filter(([, v]) => text.includes(v));
      if (held.length === 0) continue;
      assert.ok(file.startsWith(run + path.sep), `${file} holds ${held.map(([n]) => n)}`);
      assert.equal(fs.statSync(file).mode & 0o077, 0, `${file} is readable by others`);
    }
    if (fs.existsSync(run)) assert.equal(fs.statSync(run).mode & 0o777, 0o700);
  }

  const ended = (provider: Provider, seen: SeenRequest[], calls: string[]) => {
    const deletes = seen.filter((r) => r.method === "DELETE").map((r) => r.url.pathname);
    if (provider === "aws") return calls.includes("shutdown -h now") && deletes.length === 0;
    const own =
      provider === "gcp"
        ? `/compute/v1/projects/${VM.gcp.project}/zones/${VM.gcp.zone}/instances/${VM.gcp.name}`
        : VM.azure.id;
    return (
      deletes.length === 1 && deletes[0] === own && !calls.some((c) => c.startsWith("shutdown"))
    );
  };

  for (const provider of PROVIDERS) {
    describe(provider, () => {
      it("installs, checks and starts the gateway with its secrets in a root-only file in /run", async () => {
        const { spec, seen } = await setUp(provider, { nodeUrl: provider === "aws" });
        const { code, out } = await box.run(spec, "skyplane-boot");
        assert.equal(code, 0, out);
        assert.match(
          out,
          new RegExp(
            `skyplane-boot: gateway ${provider}-gw-0 started: control port 8080, data port 8081`,
          ),
        );
        const env = box.at(`${BOOT_PATHS.run}/gateway.env`);
        assert.equal(
          fs.readFileSync(env, "utf8"),
          `SKYPLANE_GATEWAY_TOKEN=${SECRETS.token}\nSKYPLANE_GATEWAY_KEY=${SECRETS.key}\n`,
        );
        assert.equal(fs.statSync(env).mode & 0o777, 0o600);
        assert.equal(
          fs.readFileSync(box.at(`${BOOT_PATHS.opt}/gateway/skyplane-gateway/main.js`), "utf8"),
          "// the gateway\n",
        );
        // Nothing left of the downloads and the raw answers.
        for (const gone of [
          "opt/skyplane/gateway.tar.gz",
          "opt/skyplane/node.tar.xz",
          "run/skyplane/secret.json",
          "run/skyplane/role.json",
        ])
          assert.ok(!fs.existsSync(box.at(`/${gone}`)), `${gone} is removed`);
        const calls = box.calls();
        const started = calls.filter((c) => c.startsWith("systemd-run "));
        assert.equal(started.length, 1, calls.join("\n"));
        const node = spec.node as { fromImage?: string };
        const nodePath = node.fromImage ?? box.at("/opt/skyplane/node/bin/node");
        assert.ok(
          started[0].endsWith(
            ` ${nodePath} ${box.at("/opt/skyplane/gateway/skyplane-gateway/main.js")} --program ${box.at("/etc/skyplane/program.json")} --control-host 0.0.0.0 --control-port 8080 --data-host 0.0.0.0 --data-port 8081 --expire-at ${spec.expireAt}`,
          ),
          started[0],
        );
        assert.ok(started[0].includes(`--property=EnvironmentFile=${env} `));
        assert.ok(started[0].includes("--property=DynamicUser=yes"));
        const endpointEnv: Record<Provider, string[]> = {
          aws: [
            "AWS_REGION=us-east-1",
            `AWS_ENDPOINT_URL_S3=${spec.endpoints?.s3}`,
            `AWS_EC2_METADATA_SERVICE_ENDPOINT=${spec.endpoints?.awsMetadata}`,
          ],
          gcp: [
            `STORAGE_EMULATOR_HOST=${spec.endpoints?.gcs}`,
            `GCE_METADATA_HOST=${spec.endpoints?.gcpMetadata?.slice("http://".length)}`,
          ],
          azure: [
            "SKYPLANE_AZURE_AUTH=managed-identity",
            `SKYPLANE_AZURE_BLOB_ENDPOINT=${spec.endpoints?.azureBlob}`,
            `SKYPLANE_AZURE_IMDS_ENDPOINT=${spec.endpoints?.azureMetadata}`,
          ],
        };
        for (const e of endpointEnv[provider]) assert.ok(started[0].includes(`--setenv=${e} `), e);
        assert.ok(!ended(provider, seen, calls), "the VM lives on");
        assert.ok(!seen.some((r) => r.method === "DELETE"));
        assertSecretsKept();
      });

      it("refuses a bundle whose sha256 is not the pinned one: nothing unpacked, the VM ended", async () => {
        const { spec, seen } = await setUp(provider, { bundleSha: "f".repeat(64) });
        const { code, out } = await box.run(spec, "skyplane-boot");
        assert.equal(code, 1, out);
        assert.match(
          out,
          /^skyplane-boot: FAILED: the gateway bundle's sha256 is not f{64}: refused$/m,
        );
        const calls = box.calls();
        assert.ok(
          calls.some((c) => c.startsWith("sha256sum ")),
          "it was checked",
        );
        assert.ok(!calls.some((c) => c.startsWith("tar ")), "and never unpacked");
        assert.ok(!fs.existsSync(box.at("/opt/skyplane/gateway/skyplane-gateway")));
        assert.ok(!calls.some((c) => c.startsWith("systemd-run")));
        assert.ok(
          ended(provider, seen, calls),
          `the VM ended the ${provider} way: ${calls.join("\n")}`,
        );
        assertSecretsKept();
      });

      it("ends the VM when the secret cannot be read, and starts nothing", async () => {
        const { spec, seen } = await setUp(provider, { secretStatus: 403 });
        const { code, out } = await box.run(spec, "skyplane-boot");
        assert.equal(code, 1, out);
        assert.match(out, /^skyplane-boot: FAILED: could not read the dataplane's secret /m);
        const calls = box.calls();
        assert.ok(!calls.some((c) => c.startsWith("systemd-run")));
        assert.ok(!fs.existsSync(box.at(`${BOOT_PATHS.run}/gateway.env`)));
        assert.ok(ended(provider, seen, calls));
        assertSecretsKept();
      });

      it("ends the VM at its expiry, and not before", async () => {
        const early = await setUp(provider);
        assert.equal((await box.run(early.spec, "skyplane-expire")).code, 0);
        assert.deepEqual(
          box.calls().filter((c) => !c.startsWith("date")),
          [],
          "nothing before the deadline",
        );
        assert.equal(early.seen.length, 0);
        const late = await setUp(provider, { expireAt: Date.now() - 1000 });
        const { code, out } = await box.run(late.spec, "skyplane-expire");
        assert.equal(code, 0, out);
        assert.match(out, /skyplane-boot: ending this VM \(it expired at /);
        assert.ok(ended(provider, late.seen, box.calls()), box.calls().join("\n"));
        assertSecretsKept();
      });
    });
  }

  it("refuses a Node tarball whose sha256 is not the pinned one, and still ends the VM without node", async () => {
    const { spec, seen } = await setUp("gcp", { nodeUrl: true, nodeSha: "0".repeat(64) });
    const { code, out } = await box.run(spec, "skyplane-boot");
    assert.equal(code, 1, out);
    assert.match(out, /^skyplane-boot: FAILED: the Node runtime's sha256 is not 0{64}: refused$/m);
    const calls = box.calls();
    assert.ok(!calls.some((c) => c.startsWith("tar ") || c.startsWith("node ")), calls.join("\n"));
    assert.ok(ended("gcp", seen, calls), "deleted with a token that sed, not node, read");
    assertSecretsKept();
  });

  it("powers off when the VM cannot delete itself (GCP, Azure)", async () => {
    for (const provider of ["gcp", "azure"] as const) {
      const { spec, seen } = await setUp(provider, {
        deleteStatus: 403,
        expireAt: Date.now() - 2000,
      });
      const { code, out } = await box.run(spec, "skyplane-expire");
      assert.equal(code, 0, out);
      assert.match(out, /could not delete this VM: powering it off/);
      assert.equal(seen.filter((r) => r.method === "DELETE").length, 1);
      assert.ok(box.calls().includes("shutdown -h now"));
    }
  });

  it("refuses a secret that is not {token, key} without quoting it", async () => {
    const secret = '{"token":"short","key":"not base64 at all"}';
    const { spec } = await setUp("azure", { secret });
    const { code, out } = await box.run(spec, "skyplane-boot");
    assert.equal(code, 1, out);
    assert.match(out, /skyplane-boot: the secret's token is missing or malformed/);
    assert.match(out, /FAILED: the dataplane's secret skyplane-kv\/dp is not \{"token", "key"\}/);
    assert.ok(!out.includes("not base64 at all") && !out.includes('"short"'), out);
    assert.ok(!fs.existsSync(box.at(`${BOOT_PATHS.run}/secret.json`)), "the raw answer is removed");
  });
});
