import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { skyplaneCache, skyplaneHome } from "../common/paths";
import { liveStartTime, stopProcess } from "../common/process";
import { SkyplaneError, UserError } from "../errors";

/*
 * The storage emulators, on 127.0.0.1 only: gofakes3 (S3), fake-gcs-server (GCS) and Azurite (Azure
 * Blob, in memory), built by scripts/setup-emulators.sh. Tests start their own; `npm run emulators`
 * starts a set in the background for a user, writes the environment that points skyplane at them to
 * $SKYPLANE_HOME/emulators.env, and `npm run emulators -- stop` stops exactly those processes.
 */

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** Running emulators. */
export interface Emulators {
  /** What points the stores at them (endpoints and credentials). */
  readonly env: Record<string, string>;
  /** Their processes, by pid and start time. */
  readonly processes: readonly {
    readonly name: string;
    readonly pid: number;
    readonly startTime: string;
  }[];
  /** Stops them. */
  stop(): Promise<void>;
}

/** The emulators' cache folder (scripts/setup-emulators.sh fills it). */
export function emulatorRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(skyplaneCache(env), "emulators");
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function waitForPort(port: number, name: string, log: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new SkyplaneError("EMULATOR_FAILED", `${name} did not listen on ${port}; see ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the three emulators, logging into `dir`; `detached` keeps them running after this process. */
export async function startEmulators(
  dir: string,
  opts: { detached?: boolean } = {},
): Promise<Emulators> {
  const root = emulatorRoot();
  const missing = [
    "bin/gofakes3",
    "bin/fake-gcs-server",
    "azurite/node_modules/azurite/package.json",
  ].filter((f) => !fs.existsSync(path.join(root, f)));
  if (missing.length)
    throw new UserError(
      "EMULATORS_MISSING",
      `emulators missing in ${root} (${missing.join(", ")}): run 'bash scripts/setup-emulators.sh'`,
    );
  fs.mkdirSync(dir, { recursive: true });
  const [s3, gcs, azure] = [await freePort(), await freePort(), await freePort()];
  const specs: Array<[string, string, string[], number]> = [
    [
      "gofakes3",
      path.join(root, "bin", "gofakes3"),
      ["-backend", "memory", "-host", `127.0.0.1:${s3}`],
      s3,
    ],
    [
      "fake-gcs-server",
      path.join(root, "bin", "fake-gcs-server"),
      [
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        String(gcs),
        "-backend",
        "memory",
        "-public-host",
        `127.0.0.1:${gcs}`,
      ],
      gcs,
    ],
    [
      "azurite",
      process.execPath,
      [
        path.join(root, "azurite", "node_modules", "azurite", "dist", "src", "blob", "main.js"),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        String(azure),
        "--inMemoryPersistence",
        "--loose",
        "--skipApiVersionCheck",
        // Azurite reports usage to Microsoft unless told not to: nothing of ours leaves this machine.
        "--disableTelemetry",
      ],
      azure,
    ],
  ];
  const processes: Array<{ name: string; pid: number; startTime: string }> = [];
  const stop = async () => {
    for (const p of processes) await stopProcess(p.pid, p.startTime, 3000);
  };
  try {
    for (const [name, cmd, args, port] of specs) {
      const logFile = path.join(dir, `${name}.log`);
      const log = fs.openSync(logFile, "a");
      const child = spawn(cmd, args, { stdio: ["ignore", log, log], detached: true });
      fs.closeSync(log);
      if (opts.detached) child.unref();
      await new Promise<void>(
        (resolve, reject) => (child.once("spawn", resolve), child.once("error", reject)),
      );
      processes.push({
        name,
        pid: child.pid as number,
        startTime: liveStartTime(child.pid as number) as string,
      });
      await waitForPort(port, name, logFile);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const env = {
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${s3}`,
    AWS_ACCESS_KEY_ID: "skyplane-emulator",
    AWS_SECRET_ACCESS_KEY: "skyplane-emulator-secret",
    AWS_REGION: "us-east-1",
    STORAGE_EMULATOR_HOST: `http://127.0.0.1:${gcs}`,
    AZURE_STORAGE_CONNECTION_STRING:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
      `BlobEndpoint=http://127.0.0.1:${azure}/${AZURITE_ACCOUNT};`,
  };
  return { env, processes, stop };
}

async function main(): Promise<void> {
  const home = skyplaneHome();
  const state = path.join(home, "emulators.json");
  const envFile = path.join(home, "emulators.env");
  if (process.argv[2] === "stop") {
    if (!fs.existsSync(state)) return void console.log("No emulators are running from this home.");
    const { processes } = JSON.parse(fs.readFileSync(state, "utf8")) as Emulators;
    for (const p of processes) await stopProcess(p.pid, p.startTime, 3000);
    fs.rmSync(state, { force: true });
    fs.rmSync(envFile, { force: true });
    return void console.log(`Stopped ${processes.map((p) => `${p.name} (${p.pid})`).join(", ")}.`);
  }
  if (fs.existsSync(state)) {
    const { processes } = JSON.parse(fs.readFileSync(state, "utf8")) as Emulators;
    if (processes.every((p) => liveStartTime(p.pid) === p.startTime)) {
      return void console.log(`Emulators already run; their environment is in ${envFile}.`);
    }
  }
  const emulators = await startEmulators(path.join(home, "emulators"), { detached: true });
  fs.writeFileSync(
    state,
    JSON.stringify({ processes: emulators.processes, env: emulators.env }, null, 2),
  );
  fs.writeFileSync(
    envFile,
    Object.entries(emulators.env)
      .map(([k, v]) => `export ${k}='${v}'`)
      .join("\n") + "\n",
    { mode: 0o600 },
  );
  console.log(
    `Started ${emulators.processes.map((p) => p.name).join(", ")} on 127.0.0.1. Point skyplane at them with:\n  source ${envFile}`,
  );
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`emulators: ${(err as Error).message}`);
    process.exit(1);
  });
}
