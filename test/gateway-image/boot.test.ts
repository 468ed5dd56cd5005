import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { BootSpec, renderBootScript, SecretRef, SYSCTL } from "../../gateway-image/boot";
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

const spec = (ref: SecretRef): BootSpec => ({
  program,
  image: "ghcr.io/skyplane-pulumi/gateway:0.1.0",
  secrets: ref,
  controlPort: 8080,
  dataPort: 8081,
  now: Date.UTC(2026, 10, 27, 12, 0, 0),
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

  it("is valid cloud-init that carries the program, the tuning and no secret", () => {
    const doc = parse(renderBootScript(spec(secrets.aws)));
    assert.deepEqual(JSON.parse(doc.write_files[1].content), program);
    assert.equal(doc.write_files[0].content.trim(), SYSCTL.join("\n"));
    const text = JSON.stringify(doc);
    assert.doesNotMatch(
      text,
      /SKYPLANE_GATEWAY_TOKEN=[^\\]/,
      "the token is fetched at boot, not written here",
    );
    assert.ok(
      doc.runcmd.some((c: string[]) => c.join(" ").includes("shutdown -P +120")),
      "ends itself after 120 minutes",
    );
    assert.ok(
      doc.runcmd.some((c: string[]) =>
        c.join(" ").includes(`--expire-at ${spec(secrets.aws).expireAt}`),
      ),
    );
  });
});
