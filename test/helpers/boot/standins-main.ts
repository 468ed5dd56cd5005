import { ChildProcess, spawn } from "node:child_process";
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

async function startEmulator(name: string, cmd: string, args: string[], port: number, dir: string) {
  if (!fs.existsSync(cmd))
    throw new Error(`${name} is not installed at ${cmd}: run 'bash scripts/setup.sh'`);
  const logFile = path.join(dir, `${name}.log`);
  const log = fs.openSync(logFile, "a");
  const child = spawn(cmd, args, { stdio: ["ignore", log, log] });
  fs.closeSync(log);
  children.push(child);
  await waitForPort(port, name, logFile);
}

/** AWS Secrets Manager CreateSecret on moto (moto takes the region from the signature's scope). */
async function createAwsSecret(endpoint: string, region: string, name: string, value: string) {
  const res = await fetch(`${endpoint}/`, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": "secretsmanager.CreateSecret",
      authorization: `AWS4-HMAC-SHA256 Credential=rehearsal/20260101/${region}/secretsmanager/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify({ Name: name, SecretString: value }),
  });
  const body = (await res.json()) as { ARN?: string };
  if (!res.ok || !body.ARN) throw new Error(`CreateSecret: ${res.status} ${JSON.stringify(body)}`);
  return body.ARN;
}

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
      await startEmulator(
        "moto",
        MOTO_SERVER,
        ["-H", "127.0.0.1", "-p", String(port)],
        port,
        p.dir,
      );
      endpoints.s3 = `http://127.0.0.1:${port}`;
      endpoints.secretsManager = `http://127.0.0.1:${port}`;
      storeEnv = {
        AWS_ENDPOINT_URL_S3: endpoints.s3,
        AWS_ACCESS_KEY_ID: "rehearsal",
        AWS_SECRET_ACCESS_KEY: "rehearsal-secret",
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
      // Unreadable on AWS: a secret that is not there (the role's policy names only the stack's own).
      if (p.value === null)
        return `arn:aws:secretsmanager:${id.region}:123456789012:secret:${p.name}-AbCdEf`;
      return createAwsSecret(storeEnv.AWS_ENDPOINT_URL_S3, id.region, p.name, p.value);
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
