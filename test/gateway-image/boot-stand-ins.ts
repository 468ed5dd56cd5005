import { execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as path from "node:path";
import { BOOT_PATHS, bootFiles, BootSpec, SecretRef } from "../../gateway-image/boot";

/*
 * The boot script run here, without root and without touching this machine: every path it writes is moved
 * under a private folder (the scripts' absolute paths rewritten), every command it runs is a recording
 * wrapper on PATH (the real one behind it, or a stand-in that only records: systemd-run, shutdown), and
 * every endpoint is one HTTP stand-in on loopback that answers as each cloud's documented API does, and
 * refuses a request without the credentials the cloud would want. The rehearsal (test/integration/
 * cloud-boot.test.ts) runs the same script unmodified in namespaces; this is the quick, unprivileged check.
 */

/** The secrets of a run: none may appear on a command line, or in a file outside the run folder. */
export const SECRETS = {
  token: "dataplane-token-0123456789abcdef",
  key: crypto.createHash("sha256").update("dataplane key").digest("base64"),
  imdsSession: "aws-imds-session-token-5f3e",
  accessKeyId: "ASIAGATEWAYROLE0001",
  secretAccessKey: "aws/secret+access+key+value0001",
  sessionToken: "aws-role-session-token-value+/=0001",
  gcpToken: "ya29.gcp-metadata-access-token-0001",
  azureStorage: "az-storage-token-0001",
  azureVault: "az-vault-token-0001",
  azureArm: "az-arm-token-0001",
} as const;

/** The secret store's plain text, as the components write it. */
export const SECRET_TEXT = JSON.stringify({ token: SECRETS.token, key: SECRETS.key });

/** Every form a secret may take on the way: the values, and the secret as GCP serves it (base64). */
export const SECRET_FORMS: Record<string, string> = {
  ...SECRETS,
  "the secret, base64": Buffer.from(SECRET_TEXT).toString("base64"),
};

/** A request the stand-in saw. */
export interface SeenRequest {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
}

/** What the stand-in serves, and how it misbehaves when told to. */
export interface CloudAnswers {
  /** The gateway bundle's bytes. */
  bundle: Buffer;
  /** The Node tarball's bytes (for a spec with a node url). */
  nodeTarball?: Buffer;
  /** The secret's plain text; default {"token", "key"} of SECRETS. */
  secret?: string;
  /** HTTP status for the secret store (e.g. 403); default it answers. */
  secretStatus?: number;
  /** HTTP status for the VM's own delete; default 200/202. */
  deleteStatus?: number;
}

/** The VM names the metadata services give. */
export const VM = {
  gcp: { project: "my-project", zone: "us-central1-a", name: "gw-vm-1" },
  azure: {
    id: "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Compute/virtualMachines/gw-vm-1",
  },
};

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

/** One HTTP server that is every endpoint of `provider`'s boot: metadata, artifacts, secrets, delete. */
export async function cloudStandIn(
  provider: SecretRef["provider"],
  answers: CloudAnswers,
): Promise<{ url: string; seen: SeenRequest[]; close: () => Promise<void> }> {
  const seen: SeenRequest[] = [];
  const secretText = answers.secret ?? SECRET_TEXT;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://stand-in");
    seen.push({ method: req.method ?? "", url, headers: req.headers });
    const h = req.headers;
    const p = url.pathname;
    if (p.startsWith("/node/") && answers.nodeTarball) return void res.end(answers.nodeTarball);
    const route = ROUTES[provider];
    req.resume();
    req.on("end", () => route({ req, res, url, h, p, answers, secretText }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  h: http.IncomingHttpHeaders;
  p: string;
  answers: CloudAnswers;
  secretText: string;
}

const ROUTES: Record<SecretRef["provider"], (c: Ctx) => void> = {
  aws: ({ req, res, h, p, answers, secretText }) => {
    const imdsOk = h["x-aws-ec2-metadata-token"] === SECRETS.imdsSession;
    // SigV4 by the role's credentials, with its session token: scope <date>/<region>/<service>.
    const signed = (service: string) =>
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${SECRETS.accessKeyId}/\\d{8}/us-east-1/${service}/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`,
      ).test(String(h.authorization)) && h["x-amz-security-token"] === SECRETS.sessionToken;
    if (
      req.method === "PUT" &&
      p === "/latest/api/token" &&
      h["x-aws-ec2-metadata-token-ttl-seconds"]
    )
      return void res.end(SECRETS.imdsSession);
    if (p === "/latest/meta-data/iam/security-credentials/")
      return imdsOk ? void res.end("gateway-role") : json(res, 401, {});
    if (p === "/latest/meta-data/iam/security-credentials/gateway-role")
      return imdsOk
        ? json(res, 200, {
            Code: "Success",
            Type: "AWS-HMAC",
            AccessKeyId: SECRETS.accessKeyId,
            SecretAccessKey: SECRETS.secretAccessKey,
            Token: SECRETS.sessionToken,
            Expiration: new Date(Date.now() + 3600_000).toISOString(),
          })
        : json(res, 401, {});
    if (req.method === "GET" && p.startsWith("/skyplane-artifacts/"))
      return signed("s3") ? void res.end(answers.bundle) : json(res, 403, {});
    if (
      req.method === "POST" &&
      p === "/" &&
      h["x-amz-target"] === "secretsmanager.GetSecretValue"
    ) {
      if (!signed("secretsmanager")) return json(res, 403, {});
      if (answers.secretStatus)
        return json(res, answers.secretStatus, { __type: "AccessDeniedException" });
      return json(res, 200, { ARN: "arn", Name: "dp", SecretString: secretText });
    }
    json(res, 404, {});
  },
  gcp: ({ req, res, url, h, p, answers, secretText }) => {
    const bearer = h.authorization === `Bearer ${SECRETS.gcpToken}`;
    if (p.startsWith("/computeMetadata/v1/")) {
      if (h["metadata-flavor"] !== "Google") return json(res, 403, {});
      const what = p.slice("/computeMetadata/v1/".length);
      const answer: Record<string, string> = {
        "instance/service-accounts/default/token": JSON.stringify({
          access_token: SECRETS.gcpToken,
          expires_in: 3599,
          token_type: "Bearer",
        }),
        "project/project-id": VM.gcp.project,
        "instance/zone": `projects/123456/zones/${VM.gcp.zone}`,
        "instance/name": VM.gcp.name,
      };
      return answer[what] === undefined ? json(res, 404, {}) : void res.end(answer[what]);
    }
    if (
      p.startsWith("/storage/v1/b/skyplane-artifacts/o/") &&
      url.searchParams.get("alt") === "media"
    )
      return bearer ? void res.end(answers.bundle) : json(res, 401, {});
    if (p === `/v1/projects/${VM.gcp.project}/secrets/dp/versions/latest:access`) {
      if (!bearer) return json(res, 401, {});
      if (answers.secretStatus)
        return json(res, answers.secretStatus, { error: { code: answers.secretStatus } });
      return json(res, 200, {
        name: "projects/123456/secrets/dp/versions/1",
        payload: { data: Buffer.from(secretText).toString("base64") },
      });
    }
    if (
      req.method === "DELETE" &&
      p === `/compute/v1/projects/${VM.gcp.project}/zones/${VM.gcp.zone}/instances/${VM.gcp.name}`
    ) {
      if (!bearer) return json(res, 401, {});
      return json(res, answers.deleteStatus ?? 200, {
        kind: "compute#operation",
        status: "RUNNING",
      });
    }
    json(res, 404, {});
  },
  azure: ({ req, res, url, h, p, answers, secretText }) => {
    if (p.startsWith("/metadata/")) {
      if (h.metadata !== "true") return json(res, 400, { error: "bad_request" });
      if (p === "/metadata/identity/oauth2/token") {
        const tokens: Record<string, string> = {
          "https://storage.azure.com/": SECRETS.azureStorage,
          "https://vault.azure.net": SECRETS.azureVault,
          "https://management.azure.com/": SECRETS.azureArm,
        };
        const resource = url.searchParams.get("resource") ?? "";
        if (url.searchParams.get("api-version") !== "2018-02-01" || !tokens[resource])
          return json(res, 400, { error: "invalid_resource" });
        return json(res, 200, {
          access_token: tokens[resource],
          expires_on: String(Math.floor(Date.now() / 1000) + 3600),
          resource,
          token_type: "Bearer",
        });
      }
      if (
        p === "/metadata/instance/compute/resourceId" &&
        url.searchParams.get("format") === "text"
      )
        return void res.end(VM.azure.id);
      return json(res, 404, {});
    }
    if (req.method === "GET" && p.startsWith("/artifacts/"))
      return h.authorization === `Bearer ${SECRETS.azureStorage}` && h["x-ms-version"]
        ? void res.end(answers.bundle)
        : json(res, 403, {});
    if (p === "/secrets/dp" && url.searchParams.get("api-version") === "7.4") {
      if (h.authorization !== `Bearer ${SECRETS.azureVault}`) return json(res, 401, {});
      if (answers.secretStatus)
        return json(res, answers.secretStatus, { error: { code: "Forbidden" } });
      return json(res, 200, { value: secretText, id: "https://kv/secrets/dp/1" });
    }
    if (req.method === "DELETE" && p === VM.azure.id) {
      if (h.authorization !== `Bearer ${SECRETS.azureArm}`) return json(res, 401, {});
      return json(res, answers.deleteStatus ?? 202, {});
    }
    json(res, 404, {});
  },
};

/** A private folder that stands for the VM's file system, and recording wrappers for its commands. */
export interface Sandbox {
  /** The VM's "/" here. */
  readonly root: string;
  /** Where the wrappers are (first on PATH). */
  readonly bin: string;
  /** One line per command run: its name and arguments. */
  calls(): string[];
  /** Writes the spec's files under root, paths rewritten, and runs `script` (skyplane-boot or skyplane-expire). */
  run(
    spec: BootSpec,
    script: "skyplane-boot" | "skyplane-expire",
  ): Promise<{ code: number; out: string }>;
  /** A path of the VM, under root. */
  at(vmPath: string): string;
}

/** The scripts' folders, longest first, so that a rewrite never touches a path twice. */
const REWRITTEN = [
  BOOT_PATHS.run,
  BOOT_PATHS.opt,
  BOOT_PATHS.etc,
  BOOT_PATHS.lib,
  BOOT_PATHS.sbin,
].sort((a, b) => b.length - a.length);

/** Commands that run for real behind their recording wrapper. */
const REAL = ["curl", "tar", "sha256sum", "sed", "mkdir", "chmod", "rm", "xz", "gzip", "date"];
/** Commands that only record: they would act on this machine. */
const RECORD_ONLY = ["systemd-run", "shutdown", "systemctl", "modprobe", "sysctl"];

/** Makes a sandbox under `dir`; `node` is the path the spec's fromImage names, or undefined. */
export function sandbox(dir: string): Sandbox {
  const root = path.join(dir, "vm");
  const bin = path.join(dir, "bin");
  const callsFile = path.join(dir, "calls");
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(callsFile, "");
  const record = (name: string) => `printf '%s\\n' "${name} $*" >>"$CALLS"`;
  for (const name of REAL) {
    const real = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${record(name)}\nexec ${real} "$@"\n`, {
      mode: 0o755,
    });
  }
  for (const name of RECORD_ONLY)
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${record(name)}\n`, { mode: 0o755 });
  fs.writeFileSync(
    path.join(bin, "node"),
    `#!/bin/sh\n${record("node")}\nexec ${process.execPath} "$@"\n`,
    {
      mode: 0o755,
    },
  );
  const at = (vmPath: string) => path.join(root, vmPath);
  const rewrite = (text: string) => REWRITTEN.reduce((t, p) => t.split(p).join(at(p)), text);
  return {
    root,
    bin,
    at,
    calls: () => fs.readFileSync(callsFile, "utf8").split("\n").filter(Boolean),
    run: async (spec, script) => {
      for (const f of bootFiles(spec)) {
        const file = at(f.path);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, rewrite(f.content) + "\n", {
          mode: Number.parseInt(f.permissions, 8),
        });
      }
      const child = spawn("/bin/sh", [at(`${BOOT_PATHS.sbin}/${script}`)], {
        env: { PATH: `${bin}:/usr/bin:/bin`, CALLS: callsFile },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (c) => (out += c));
      child.stderr.on("data", (c) => (out += c));
      const code = await new Promise<number>((r) => child.on("exit", (c) => r(c ?? -1)));
      return { code, out };
    },
  };
}

/** Every regular file under `dir`. */
export function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/** A gzipped tarball of `files` (name → content) made with the system's tar, and its sha256. */
export function tarball(
  dir: string,
  files: Record<string, string>,
  compress: "z" | "J",
): { bytes: Buffer; sha256: string } {
  const stage = fs.mkdtempSync(path.join(dir, "stage-"));
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(stage, name)), { recursive: true });
    fs.writeFileSync(path.join(stage, name), content, { mode: 0o755 });
  }
  const bytes = execFileSync("tar", [`-c${compress}f`, "-", "-C", stage, ...Object.keys(files)]);
  fs.rmSync(stage, { recursive: true, force: true });
  return { bytes, sha256: crypto.createHash("sha256").update(bytes).digest("hex") };
}
