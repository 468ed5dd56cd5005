import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import {
  ArtifactRef,
  BootSpec,
  defaultEndpoints,
  renderBootScript,
  resolveEndpoints,
  SecretRef,
  SYSCTL,
} from "../../gateway-image/boot";
import { BOOT_JSON_SOURCE } from "../../gateway-image/boot-json";
import { SkyplaneError } from "../../errors";
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

  type Doc = {
    write_files: Array<{ path: string; permissions: string; content: string }>;
    runcmd: string[][];
  };
  const doc = (s: BootSpec): Doc => parse(renderBootScript(s));
  const file = (d: Doc, p: string) => {
    const found = d.write_files.find((f) => f.path === p);
    assert.ok(found, `writes ${p}`);
    return found;
  };
  const boot = (d: Doc) => file(d, "/usr/local/sbin/skyplane-boot").content;

  it("is valid cloud-init: the program, the tuning, the expiry armed before the boot runs", () => {
    const d = doc(spec(secrets.aws));
    assert.deepEqual(JSON.parse(file(d, "/etc/skyplane/program.json").content), program);
    assert.equal(file(d, "/etc/sysctl.d/60-skyplane.conf").content.trim(), SYSCTL.join("\n"));
    assert.deepEqual(d.runcmd, [
      ["modprobe", "tcp_bbr"],
      ["sysctl", "--system"],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "skyplane-expire.timer"],
      ["/usr/local/sbin/skyplane-boot"],
    ]);
    assert.equal(file(d, "/usr/local/sbin/skyplane-boot").permissions, "0755");
    assert.match(boot(d), /--expire-at 1795788000000 \|\|/, "the daemon knows its expiry too");
  });

  for (const [provider, ref] of Object.entries(secrets)) {
    for (const node of [
      { url: NODE_RUNTIME.url, sha256: NODE_RUNTIME.sha256 },
      { fromImage: "/usr/bin/node" },
    ])
      it(`${provider}, node ${"url" in node ? "tarball" : "from the image"}: every embedded script parses (sh -n, node --check)`, () => {
        const d = doc({ ...spec(ref), node });
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-boot-syntax-"));
        try {
          const scripts = d.write_files.filter(
            (f) =>
              f.content.startsWith("#!/bin/sh") || f.path.endsWith(".sh") || f.path.endsWith(".js"),
          );
          assert.deepEqual(scripts.map((f) => f.path).sort(), [
            "/usr/local/lib/skyplane/cloud.sh",
            "/usr/local/lib/skyplane/json.js",
            "/usr/local/sbin/skyplane-boot",
            "/usr/local/sbin/skyplane-expire",
          ]);
          for (const f of scripts) {
            const tmp = path.join(dir, path.basename(f.path));
            fs.writeFileSync(tmp, f.content);
            const [cmd, args] = f.path.endsWith(".js")
              ? [process.execPath, ["--check", tmp]]
              : ["/bin/sh", ["-n", tmp]];
            const r = spawnSync(cmd, args, { encoding: "utf8" });
            assert.equal(r.status, 0, `${f.path}: ${r.stderr}`);
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });

    it(`${provider}: checks every download's sha256 before anything unpacks it`, () => {
      const lines = boot(doc(spec(ref))).split("\n");
      const unpacks = lines
        .map((l, i) => ({ i, m: /\btar -x\w*f "(\$OPT\/[\w.]+)"/.exec(l) }))
        .filter((u) => u.m);
      assert.equal(unpacks.length, 2, "the Node runtime and the bundle");
      for (const { i, m } of unpacks) {
        const checked = lines.findIndex((l) => l.startsWith(`verify "${m?.[1]}" `));
        assert.ok(checked >= 0 && checked < i, `${m?.[1]} is verified before line ${i}`);
        assert.match(lines[checked + 1], /^ {2}fail '/, "and a mismatch fails the boot");
      }
      assert.ok(lines.some((l) => l.includes(`verify "$OPT/gateway.tar.gz" ${BUNDLE_SHA} ||`)));
      assert.ok(
        lines.some((l) => l.includes(`verify "$OPT/node.tar.xz" ${NODE_RUNTIME.sha256} ||`)),
      );
    });

    it(`${provider}: runs no cloud CLI, no Docker and no jq; keeps secrets out of user data`, () => {
      const d = doc(spec(ref));
      const shell = d.write_files
        .filter((f) => f.content.startsWith("#!/bin/sh") || f.path.endsWith(".sh"))
        .map((f) => f.content)
        .join("\n");
      // The first word of every command: at a line's start, after && || | ; ( and in $( ).
      const commands = new Set(
        shell
          .split("\n")
          .filter((l) => !/^\s*#/.test(l))
          .flatMap((l) => l.split(/&&|\|\||\||;|\$\(|\(/))
          .map(
            (c) =>
              c
                .trim()
                .replace(/^(\w+=\S*\s*)+/, "")
                .split(/\s+/)[0],
          )
          .filter((w) => /^[a-z"$][\w$"./-]*$/.test(w ?? "")),
      );
      assert.ok(commands.size >= 10, `looked at ${commands.size} commands`);
      for (const cli of ["aws", "gcloud", "az", "docker", "jq", "python3"])
        assert.ok(!commands.has(cli), `runs ${cli}`);
      const external = [...commands].filter(
        (c) =>
          !/^(say|fail|fetch|verify|bearer|credentials|fetch_bundle|fetch_secret|end_vm|meta|imds_token|umask|mkdir|chmod|rm|printf|return|exit|exec|set|\[|\.|\w+\(\)|do|then|else|fi|ok=.*|read_ok=.*|"\$NODE")$/.test(
            c,
          ),
      );
      assert.deepEqual(
        external.filter(
          (c) =>
            !["curl", "sed", "sha256sum", "tar", "systemd-run", "shutdown", "date"].includes(c),
        ),
        [],
        `only sh, coreutils, curl, tar, sed and systemd: ${external}`,
      );
      const text = JSON.stringify(d);
      assert.doesNotMatch(text, /SKYPLANE_GATEWAY_(TOKEN|KEY)=[^\\"]/, "no secret in user data");
      const start = boot(d).slice(boot(d).indexOf("systemd-run"));
      assert.match(start, /--property=EnvironmentFile=\/run\/skyplane\/gateway\.env /);
      assert.doesNotMatch(
        start,
        /SKYPLANE_GATEWAY_(TOKEN|KEY)/,
        "the secrets reach the gateway in a file",
      );
    });
  }

  it("takes the image's node when given one, and downloads none", () => {
    const d = doc({ ...spec(secrets.gcp), node: { fromImage: "/usr/local/bin/node" } });
    assert.match(
      file(d, "/usr/local/lib/skyplane/cloud.sh").content,
      /^NODE='\/usr\/local\/bin\/node'$/m,
    );
    assert.doesNotMatch(boot(d), /node\.tar\.xz|nodejs\.org/);
    assert.match(
      boot(d),
      /\[ -x "\$NODE" \] \|\| fail 'no Node runtime at \/usr\/local\/bin\/node on this image'/,
    );
  });

  it("differs between a cloud and its rehearsal in the endpoints only", () => {
    for (const ref of Object.values(secrets)) {
      const cloud = renderBootScript(spec(ref)).split("\n");
      const rehearsal = renderBootScript({
        ...spec(ref),
        endpoints: Object.fromEntries(
          Object.keys(defaultEndpoints()).map((k) => [k, "http://10.99.0.1:9000"]),
        ),
      }).split("\n");
      assert.equal(cloud.length + 2, rehearsal.length, `${ref.provider}: two more --setenv lines`);
      const changed = rehearsal.filter((l) => !cloud.includes(l));
      assert.ok(changed.length >= 4, `${changed.length} lines differ`);
      for (const l of changed)
        assert.match(
          l,
          /^ {6}([A-Z0-9_]+='http:\/\/10\.99\.0\.1:9000'| {2}'--setenv=[A-Z0-9_]+=(http:\/\/)?10\.99\.0\.1:9000' \\)$/,
          `${ref.provider}: only an endpoint differs: ${l}`,
        );
    }
  });

  it("resolves each cloud's own endpoints from the spec", () => {
    assert.deepEqual(resolveEndpoints(spec(secrets.aws)), {
      ...defaultEndpoints({ awsRegion: "us-east-1" }),
      s3: "https://s3.us-east-1.amazonaws.com",
      secretsManager: "https://secretsmanager.us-east-1.amazonaws.com",
    });
    const azure = resolveEndpoints(spec(secrets.azure));
    assert.equal(azure.azureBlob, "https://skyplaneartifacts.blob.core.windows.net");
    assert.equal(azure.azureKeyVault, "https://skyplane-kv.vault.azure.net");
    assert.equal(azure.azureMetadata, "http://169.254.169.254");
    const gcp = resolveEndpoints({ ...spec(secrets.gcp), endpoints: { gcs: "http://gcs:4443" } });
    assert.equal(gcp.gcs, "http://gcs:4443");
    assert.equal(gcp.gcpMetadata, "http://metadata.google.internal");
    assert.equal(
      defaultEndpoints({ awsRegion: "eu-west-1", s3Region: "eu-central-1" }).s3,
      "https://s3.eu-central-1.amazonaws.com",
    );
  });

  it("refuses a spec it cannot carry safely, naming what is wrong", () => {
    const bad: Array<[Partial<BootSpec>, RegExp]> = [
      [
        { bundle: { artifact: artifacts.aws, sha256: "abc" } },
        /bundle's sha256 must be 64 lowercase hex/,
      ],
      [
        { node: { url: NODE_RUNTIME.url, sha256: NODE_RUNTIME.sha256.toUpperCase() } },
        /Node runtime's sha256/,
      ],
      [
        { node: { url: "ftp://x/node.tar.xz", sha256: NODE_RUNTIME.sha256 } },
        /url must be http\(s\)/,
      ],
      [{ node: { fromImage: "node" } }, /absolute path/],
      [
        { bundle: { artifact: artifacts.gcp, sha256: BUNDLE_SHA } },
        /artifact must be in aws too, not gcp/,
      ],
      [{ endpoints: { s3: "http://x/'; rm -rf /" } }, /endpoint s3 must be an http\(s\) URL/],
      [{ controlPort: 70000 }, /controlPort 70000 is not a port/],
    ];
    for (const [change, reason] of bad)
      assert.throws(
        () => renderBootScript({ ...spec(secrets.aws), ...change }),
        (err: SkyplaneError) => err.code === "BAD_BOOT_SPEC" && reason.test(err.message),
        String(reason),
      );
  });

  it("quotes every value it puts in the script", () => {
    const d = doc({
      ...spec(secrets.gcp),
      secrets: { provider: "gcp", secret: "dp", project: "p'$(touch /tmp/x)" },
      bundle: {
        artifact: { provider: "gcp", bucket: "b", object: "o'; rm -rf / #" },
        sha256: BUNDLE_SHA,
      },
    });
    const cloud = file(d, "/usr/local/lib/skyplane/cloud.sh").content;
    assert.ok(
      cloud.includes("/o/o'%3B%20rm%20-rf%20%2F%20%23?alt=media'") === false,
      "quoted, not raw",
    );
    assert.match(
      cloud,
      /"\$GCS"'\/storage\/v1\/b\/b\/o\/o'\\''%3B%20rm%20-rf%20%2F%20%23\?alt=media'/,
    );
    assert.match(cloud, /\/projects\/p'\\''%24\(touch%20%2Ftmp%2Fx\)\/secrets/);
  });

  it("ends the VM at an absolute deadline that a reboot does not cancel", () => {
    const d = doc(spec(secrets.aws));
    const timer = file(d, "/etc/systemd/system/skyplane-expire.timer").content;
    assert.match(timer, /^OnCalendar=2026-11-27 14:00:00 UTC$/m, "the wall-clock deadline");
    assert.match(timer, /^OnBootSec=\d+s$/m, "checked again after every boot");
    assert.match(timer, /^OnUnitActiveSec=60s$/m, "and every minute, retrying a failed ending");
    assert.match(timer, /^WantedBy=timers\.target$/m, "enabled, so re-armed at every boot");
    assert.match(
      file(d, "/etc/systemd/system/skyplane-expire.service").content,
      /^ExecStart=\/usr\/local\/sbin\/skyplane-expire$/m,
    );
    const expire = file(d, "/usr/local/sbin/skyplane-expire");
    assert.equal(expire.permissions, "0755");
    assert.match(expire.content, /^\[ "\$\(date \+%s\)" -ge 1795788000 \] \|\| exit 0$/m);
  });

  describe("the JSON helper the boot runs with node", () => {
    let helper: string;
    before(() => {
      helper = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-json-")), "json.js");
      fs.writeFileSync(helper, BOOT_JSON_SOURCE);
    });
    after(() => fs.rmSync(path.dirname(helper), { recursive: true, force: true }));
    const run = (args: string[], input: string) =>
      spawnSync(process.execPath, [helper, ...args], {
        input,
        encoding: "utf8",
      });
    const key = Buffer.alloc(32, 7).toString("base64");

    it("turns role credentials into a curl config, and each secret store's answer into an env file", () => {
      const curl = run(
        ["aws-curl"],
        JSON.stringify({ AccessKeyId: "AKID", SecretAccessKey: "se/cr+et", Token: "tok=" }),
      );
      assert.equal(curl.status, 0, curl.stderr);
      assert.equal(curl.stdout, 'user = "AKID:se/cr+et"\nheader = "x-amz-security-token: tok="\n');
      const secret = JSON.stringify({ token: "t".repeat(32), key });
      const expected = `SKYPLANE_GATEWAY_TOKEN=${"t".repeat(32)}\nSKYPLANE_GATEWAY_KEY=${key}\n`;
      for (const [provider, answer] of [
        ["aws", { SecretString: secret }],
        ["gcp", { payload: { data: Buffer.from(secret).toString("base64") } }],
        ["azure", { value: secret }],
      ] as const) {
        const r = run(["env", provider], JSON.stringify(answer));
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, expected, provider);
      }
    });

    it("refuses what would break a config or env file, without quoting it", () => {
      const cases: Array<[string[], unknown, RegExp]> = [
        [
          ["aws-curl"],
          { AccessKeyId: 'AK"ID', SecretAccessKey: "x" },
          /AccessKeyId is missing or malformed/,
        ],
        [
          ["aws-curl"],
          { AccessKeyId: "AKID", SecretAccessKey: "a b" },
          /SecretAccessKey is missing/,
        ],
        [
          ["env", "azure"],
          { value: '{"token":"t\\nINJECTED=1xxxxxxxxxxxxxx","key":"k"}' },
          /token is missing or malformed/,
        ],
        [
          ["env", "aws"],
          { SecretString: JSON.stringify({ token: "t".repeat(32), key: "c2hvcnQ=" }) },
          /key is not 32 bytes/,
        ],
        [["env", "gcp"], { payload: {} }, /secret is not JSON/],
      ];
      for (const [args, answer, reason] of cases) {
        const r = run(args, JSON.stringify(answer));
        assert.equal(r.status, 1, JSON.stringify(answer));
        assert.match(r.stderr, reason);
        assert.equal(r.stdout, "", "nothing half-written");
        assert.doesNotMatch(r.stderr, /INJECTED|a b|AK"ID/, "the input is never quoted");
      }
      const notJson = run(["env", "aws"], "{ not json: hunter2");
      assert.equal(notJson.status, 1);
      assert.doesNotMatch(notJson.stderr, /hunter2/);
    });
  });
});
