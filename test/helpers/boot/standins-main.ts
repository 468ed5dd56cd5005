import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { emulatorRoot } from "../../../scripts/emulators";
import { openStore, parseStoreUri } from "../../../stores/registry";
import {
  awsMetadata,
  azureKeyVault,
  azureManagement,
  azureMetadata,
  Cloud,
  fileServer,
  gcpCompute,
  gcpMetadata,
  gcpSecretManager,
  serve,
  VmIdentity,
} from "./standins";

/*
 * The cloud of one rehearsal VM, run as a process inside that VM's network namespace (started by
 * rehearsal.ts through `ip netns exec`, spoken to over Node's IPC channel): the metadata service on
 * 169.254.169.254:80, the secret store, the delete API, the Node tarball's file server and the cloud's
 * storage emulator (moto for S3 and Secrets Manager, fake-gcs-server, Azurite with TLS and OAuth), all
 * listening in the namespace only. It seeds and reads the stores for the test, and reports every request
 * it served and the VM's delete.
 */

/** Where the checkout is (this file is dist/test/helpers/boot/standins-main.js). */
const CHECKOUT = path.resolve(__dirname, "..", "..", "..", "..");
/** moto's server, installed by scripts/setup-moto.sh. */
export const MOTO_SERVER = path.join(CHECKOUT, ".venv-moto", "bin", "moto_server");
/** The rehearsal's IAM set-up on moto. */
const MOTO_IAM = path.join(CHECKOUT, "test", "helpers", "boot", "moto_iam.py");
/** Azurite's well-known development account (public, documented by Microsoft). */
const AZURITE_ACCOUNT = "devstoreaccount1";
const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** What the test asks for at start. */
export interface StandinStart {
  readonly identity: VmIdentity;
  /** Folder for the emulator's log and data. */
  readonly dir: string;
  /** The Node tarball to serve, at `/dist/<version>/<file>`. */
  readonly nodeTarball: { readonly file: string; readonly version: string };
  /** TLS for the stand-ins that need it (Azurite: OAuth only over HTTPS). */
  readonly tls: { readonly cert: string; readonly key: string };
  /** Azure: the Key Vault's name. */
  readonly vault?: string;
}

/** What the stand-ins answer at start: the addresses to render into the boot script. */
export interface StandinEndpoints {
  readonly nodeUrl: string;
  readonly endpoints: Record<string, string>;
  /** The store environment the test's own clients use (through `put`/`get`). */
  readonly storeEnv: Record<string, string>;
}

const children: ChildProcess[] = [];
let cloud: Cloud | undefined;
let storeEnv: Record<string, string> = {};

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitForPort(port: number, name: string, log: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline)
      throw new Error(
        `${name} did not listen on ${port}: ${fs.readFileSync(log, "utf8").slice(-1500)}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startEmulator(
  name: string,
  cmd: string,
  args: string[],
  port: number,
  dir: string,
  env: Record<string, string> = {},
) {
  if (!fs.existsSync(cmd))
    throw new Error(`${name} is not installed at ${cmd}: run 'bash scripts/setup.sh'`);
  const logFile = path.join(dir, `${name}.log`);
  const log = fs.openSync(logFile, "a");
  const child = spawn(cmd, args, { stdio: ["ignore", log, log], env: { ...process.env, ...env } });
  fs.closeSync(log);
  children.push(child);
  await waitForPort(port, name, logFile);
}

/** The rehearsal's IAM on moto (moto_iam.py, with the boto3 of .venv-moto): one JSON request, one answer. */
function motoIam<T>(request: Record<string, unknown>): T {
  const out = execFileSync(path.join(CHECKOUT, ".venv-moto", "bin", "python"), [MOTO_IAM], {
    input: JSON.stringify(request),
    stdio: ["pipe", "pipe", "pipe"],
  });
  return JSON.parse(out.toString()) as T;
}

/**
 * The instance role's policy: what a gateway of the stack may do, on exactly its objects: the bundle
 * under its artifacts prefix, the dataplane's secrets, the rehearsal's two data buckets.
 */
export function gatewayPolicy(): unknown {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "Bundle",
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: "arn:aws:s3:::skyplane-artifacts/gateway/*",
      },
      // moto checks Secrets Manager's actions against the resource "*" only: the stack's policy names
      // the secret's ARN, which moto could not match.
      { Sid: "Secret", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: "*" },
      {
        Sid: "Objects",
        Effect: "Allow",
        Action: [
          "s3:GetObject",
          "s3:PutObject",
          "s3:AbortMultipartUpload",
          "s3:ListMultipartUploadParts",
        ],
        Resource: ["arn:aws:s3:::skyplane-src/*", "arn:aws:s3:::skyplane-dst/*"],
      },
      {
        Sid: "Buckets",
        Effect: "Allow",
        Action: ["s3:ListBucket", "s3:GetBucketLocation"],
        Resource: ["arn:aws:s3:::skyplane-src", "arn:aws:s3:::skyplane-dst"],
      },
    ],
  };
}

let awsAdmin: { id: string; key: string } | undefined;

async function start(p: StandinStart): Promise<StandinEndpoints> {
  fs.mkdirSync(p.dir, { recursive: true });
  cloud = new Cloud(p.identity, (e) => process.send?.({ event: e.kind, detail: e.detail }));
  const c = cloud;
  const id = p.identity;
  const files = fileServer({
    [`/dist/${p.nodeTarball.version}/${path.basename(p.nodeTarball.file)}`]: p.nodeTarball.file,
  });
  const nodeServer = await serve(c, "node-dist", "127.0.0.1", 0, [files]);
  const nodeUrl = `${nodeServer.url}/dist/${p.nodeTarball.version}/${path.basename(p.nodeTarball.file)}`;
  const endpoints: Record<string, string> = {};
  const port = await freePort();
  switch (id.cloud) {
    case "aws": {
      await serve(c, "aws-metadata", "169.254.169.254", 80, [awsMetadata(c)]);
      // moto checks signatures and IAM policies after the three requests that make its administrator.
      await startEmulator(
        "moto",
        MOTO_SERVER,
        ["-H", "127.0.0.1", "-p", String(port)],
        port,
        p.dir,
        {
          INITIAL_NO_AUTH_ACTION_COUNT: "3",
        },
      );
      endpoints.s3 = `http://127.0.0.1:${port}`;
      endpoints.secretsManager = `http://127.0.0.1:${port}`;
      const iam = motoIam<{
        admin: { id: string; key: string };
        role: Cloud["awsCredentials"];
        roleName: string;
      }>({
        op: "setup",
        endpoint: endpoints.s3,
        region: id.region,
        policy: gatewayPolicy(),
      });
      awsAdmin = iam.admin;
      c.awsCredentials = iam.role;
      c.awsRole = iam.roleName;
      storeEnv = {
        AWS_ENDPOINT_URL_S3: endpoints.s3,
        AWS_ACCESS_KEY_ID: iam.admin.id,
        AWS_SECRET_ACCESS_KEY: iam.admin.key,
        AWS_REGION: id.region,
      };
      break;
    }
    case "gcp": {
      await serve(c, "gcp-metadata", "169.254.169.254", 80, [gcpMetadata(c)]);
      const root = emulatorRoot();
      await startEmulator(
        "fake-gcs-server",
        path.join(root, "bin", "fake-gcs-server"),
        [
          "-scheme",
          "http",
          "-host",
          "127.0.0.1",
          "-port",
          String(port),
          "-backend",
          "memory",
          "-public-host",
          `127.0.0.1:${port}`,
        ],
        port,
        p.dir,
      );
      endpoints.gcs = `http://127.0.0.1:${port}`;
      endpoints.gcpSecretManager = (
        await serve(c, "gcp-secret-manager", "127.0.0.1", 0, [gcpSecretManager(c)])
      ).url;
      endpoints.gcpCompute = (await serve(c, "gcp-compute", "127.0.0.1", 0, [gcpCompute(c)])).url;
      storeEnv = { STORAGE_EMULATOR_HOST: endpoints.gcs, GOOGLE_CLOUD_PROJECT: id.project };
      break;
    }
    case "azure": {
      await serve(c, "azure-metadata", "169.254.169.254", 80, [azureMetadata(c)]);
      const root = emulatorRoot();
      await startEmulator(
        "azurite",
        process.execPath,
        [
          path.join(root, "azurite", "node_modules", "azurite", "dist", "src", "blob", "main.js"),
          "--blobHost",
          "127.0.0.1",
          "--blobPort",
          String(port),
          "--inMemoryPersistence",
          "--loose",
          "--skipApiVersionCheck",
          "--disableTelemetry",
          // Bearer tokens are accepted over TLS only, as by Azure Storage.
          "--oauth",
          "basic",
          "--cert",
          p.tls.cert,
          "--key",
          p.tls.key,
        ],
        port,
        p.dir,
      );
      endpoints.azureBlob = `https://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
      endpoints.azureKeyVault = (
        await serve(c, "azure-key-vault", "127.0.0.1", 0, [azureKeyVault(c, p.vault ?? "vault")])
      ).url;
      endpoints.azureManagement = (
        await serve(c, "azure-management", "127.0.0.1", 0, [azureManagement(c)])
      ).url;
      storeEnv = {
        AZURE_STORAGE_CONNECTION_STRING:
          `DefaultEndpointsProtocol=https;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
          `BlobEndpoint=${endpoints.azureBlob};`,
      };
      break;
    }
  }
  return { nodeUrl, endpoints, storeEnv };
}

const store = (uri: string) =>
  openStore(parseStoreUri(uri), { home: "/nonexistent-home", env: { ...storeEnv } });

const methods: Record<string, (params: never) => Promise<unknown>> = {
  start,
  /** Sets the dataplane's secret (`value` null: one the VM's identity may not read); its id in the store. */
  async secret(p: { name: string; value: string | null }): Promise<string> {
    if (!cloud) throw new Error("not started");
    const id = cloud.identity;
    if (id.cloud === "aws") {
      // Unreadable on AWS: a secret marked for deletion. (moto evaluates Secrets Manager's actions
      // against the resource "*" only, so a policy naming the secret cannot be rehearsed there.)
      return motoIam<{ arn: string }>({
        op: "secret",
        endpoint: storeEnv.AWS_ENDPOINT_URL_S3,
        region: id.region,
        admin: awsAdmin,
        name: p.name,
        value: p.value ?? JSON.stringify({ token: "a-destroyed-stacks-token" }),
        deleted: p.value === null,
      }).arn;
    }
    cloud.secrets.set(p.name, p.value);
    return p.name;
  },
  async createBucket(p: { uri: string; region: string }): Promise<null> {
    await store(p.uri).createBucket(p.region);
    return null;
  },
  async put(p: { uri: string; key: string; file?: string; base64?: string }): Promise<null> {
    const data = p.file ? fs.readFileSync(p.file) : Buffer.from(p.base64 ?? "", "base64");
    await store(p.uri).put(p.key, data);
    return null;
  },
  async get(p: { uri: string; key: string }): Promise<{ sha256: string; size: number } | null> {
    const s = store(p.uri);
    if (!(await s.head(p.key))) return null;
    const data = await s.get(p.key);
    return { sha256: crypto.createHash("sha256").update(data).digest("hex"), size: data.length };
  },
  /**
   * AWS: what moto refuses, to show that it checks as AWS does: a read with the role's credentials
   * outside the bundle's prefix, and one whose signature was made with a wrong secret. The error codes.
   */
  async awsRefusals(): Promise<{ outsidePrefix: string; forged: string; allowed: string }> {
    if (cloud?.identity.cloud !== "aws") throw new Error("AWS only");
    const creds = cloud.awsCredentials;
    const artifacts = store("s3://skyplane-artifacts");
    if (!(await artifacts.exists())) await artifacts.createBucket(`aws:${cloud.identity.region}`);
    await store("s3://skyplane-artifacts").put("elsewhere/object", Buffer.from("x"));
    await store("s3://skyplane-artifacts").put("gateway/probe", Buffer.from("y"));
    const as = (secret: string) =>
      openStore(parseStoreUri("s3://skyplane-artifacts"), {
        home: "/nonexistent-home",
        env: {
          ...storeEnv,
          AWS_ACCESS_KEY_ID: creds.AccessKeyId,
          AWS_SECRET_ACCESS_KEY: secret,
          AWS_SESSION_TOKEN: creds.Token,
        },
      });
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => "allowed",
        (e: Error & { code?: string }) => `${e.code ?? e.name}: ${e.message.split("\n")[0]}`,
      );
    return {
      allowed: await outcome(as(creds.SecretAccessKey).get("gateway/probe")),
      outsidePrefix: await outcome(as(creds.SecretAccessKey).get("elsewhere/object")),
      forged: await outcome(as(`${creds.SecretAccessKey}x`).get("gateway/probe")),
    };
  },
  async served(): Promise<unknown> {
    return cloud?.served ?? [];
  },
};

process.on("message", (m: { id: number; method: string; params: never }) => {
  const f = methods[m.method];
  void (async () => {
    try {
      if (!f) throw new Error(`no method ${m.method}`);
      process.send?.({ id: m.id, result: await f(m.params) });
    } catch (err) {
      process.send?.({ id: m.id, error: (err as Error).stack ?? String(err) });
    }
  })();
});
// The test went away: end the emulators with this process.
const end = () => {
  for (const c of children) c.kill("SIGKILL");
  process.exit(0);
};
process.on("disconnect", end);
process.on("SIGTERM", end);
