import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { S3Store } from "../../stores";
import { emulators } from "../helpers/emulators";

const MAIN = path.join(__dirname, "..", "..", "cli", "main.js");

/*
 * Reads every /proc/<pid>/cmdline over and over, as whoever runs it, until its stdin closes; prints
 * "ready" after its first pass, then a JSON summary of every distinct (pid, command line) it saw. It is
 * told nothing secret: the test looks for the secrets in what it saw.
 */
const POLLER = `
const fs = require("fs");
const seen = new Map();
let passes = 0, stop = false;
process.stdin.on("data", () => {});
process.stdin.on("end", () => { stop = true; });
function pass() {
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\\d+$/.test(e) || e === String(process.pid)) continue;
    let cmdline;
    try { cmdline = fs.readFileSync("/proc/" + e + "/cmdline", "latin1"); } catch { continue; }
    if (!cmdline || seen.has(e + "\\0" + cmdline)) continue;
    let ppid = 0;
    try {
      const st = fs.readFileSync("/proc/" + e + "/stat", "latin1");
      ppid = Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {}
    seen.set(e + "\\0" + cmdline, { pid: Number(e), ppid, cmdline });
  }
  if (passes++ === 0) process.stdout.write("ready\\n");
}
function loop() {
  pass();
  if (!stop) return void setTimeout(loop, 1);
  process.stdout.write(JSON.stringify({ passes, uid: process.getuid(), records: [...seen.values()] }) + "\\n");
}
loop();
`;

interface PollRecord {
  readonly pid: number;
  readonly ppid: number;
  readonly cmdline: string;
}

/** Starts the poller as `nobody`; resolves once it has read /proc once. */
async function startPoller(): Promise<{
  stop(): Promise<{ passes: number; uid: number; records: PollRecord[] }>;
}> {
  const uid = Number(spawnSync("id", ["-u", "nobody"], { encoding: "utf8" }).stdout);
  const gid = Number(spawnSync("id", ["-g", "nobody"], { encoding: "utf8" }).stdout);
  assert.ok(uid > 0 && gid > 0, "a user nobody exists");
  const child = spawn(process.execPath, ["-e", POLLER], {
    uid,
    gid,
    cwd: "/",
    env: { PATH: "/usr/bin:/bin" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d: string) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  const deadline = Date.now() + 30_000;
  while (!out.startsWith("ready\n")) {
    assert.ok(Date.now() < deadline && child.exitCode === null, `the poller never started: ${out}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    async stop() {
      child.stdin.end();
      assert.equal(await exited, 0);
      return JSON.parse(out.slice("ready\n".length));
    },
  };
}

describe("cli: secrets never on a command line", function () {
  this.timeout(300_000);
  let home: string;
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("an unprivileged user polling /proc/*/cmdline through a whole cp sees no token, key or credential", async () => {
    assert.equal(process.getuid?.(), 0, "needs root, to run the poller as another user");
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-secrets-"));
    const emulated = (await emulators()).env;
    // gofakes3 checks no signature: a credential of our own makes every byte of it recognisable.
    const awsSecret = `aws-secret-${crypto.randomBytes(12).toString("hex")}`;
    const env = {
      ...process.env,
      ...emulated,
      AWS_SECRET_ACCESS_KEY: awsSecret,
      SKYPLANE_HOME: home,
    };
    const run = (args: string[]) =>
      spawnSync(process.execPath, [MAIN, ...args], { env, encoding: "utf8", timeout: 120_000 });
    assert.equal(run(["mb", "local://sec-src", "--region", "local:west"]).status, 0);
    fs.writeFileSync(
      path.join(home, "buckets", "sec-src", "data.bin"),
      crypto.randomBytes(4 << 20),
    );
    const bucket = `sec-${crypto.randomBytes(3).toString("hex")}`;
    await new S3Store(bucket, {}, env).createBucket("aws:us-east-1");

    const poller = await startPoller();
    const cli = spawn(
      process.execPath,
      [MAIN, "cp", "local://sec-src/data.bin", `s3://${bucket}/data.bin`, "-y", "--json"],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    cli.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    cli.stdout.resume();
    const exited = new Promise<number | null>((r) => cli.once("exit", r));
    // The dataplane's token and key, from a gateway's environment (root may read it) while it runs;
    // its run file must be its owner's alone.
    const runDir = path.join(home, "run", "local-west--local-east");
    let secrets: { token: string; key: string } | undefined;
    const runFileModes: string[] = [];
    while (!secrets && cli.exitCode === null) {
      for (const f of fs.existsSync(runDir) ? fs.readdirSync(runDir) : []) {
        if (!f.endsWith(".json")) continue;
        try {
          const file = path.join(runDir, f);
          const { pid } = JSON.parse(fs.readFileSync(file, "utf8")) as { pid: number };
          const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
          const value = (name: string) =>
            environ.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
          const [token, key] = [value("SKYPLANE_GATEWAY_TOKEN"), value("SKYPLANE_GATEWAY_KEY")];
          runFileModes.push((fs.statSync(file).mode & 0o777).toString(8));
          if (token && key) secrets = { token, key };
        } catch {
          // not written yet, or already gone
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await exited, 0, stderr);
    const seen = await poller.stop();
    assert.ok(secrets, "read the dataplane's secrets from a running gateway");
    assert.ok(
      runFileModes.length > 0 && runFileModes.every((m) => m === "600"),
      runFileModes.join(),
    );

    assert.notEqual(seen.uid, 0, "the poller ran unprivileged");
    assert.ok(seen.passes > 10, `the poller read /proc ${seen.passes} times`);
    const pids = new Set(seen.records.map((r) => r.pid));
    assert.ok(pids.size > 10, `the poller saw ${pids.size} processes`);
    const engineRuns = seen.records.filter(
      (r) => r.ppid === cli.pid && path.basename(r.cmdline.split("\0")[0]) === "pulumi",
    );
    assert.ok(engineRuns.length >= 3, `the poller saw ${engineRuns.length} engine runs of this cp`);
    assert.ok(
      seen.records.some((r) => r.cmdline.includes(`--info-file\0${runDir}/`)),
      "the poller saw the gateways",
    );
    const needles = { token: secrets.token, key: secrets.key, "AWS secret": awsSecret };
    for (const [what, needle] of Object.entries(needles)) {
      const hits = seen.records.filter((r) => r.cmdline.includes(needle));
      assert.deepEqual(
        hits.map((h) => h.cmdline.split("\0").slice(0, 4).join(" ")),
        [],
        `the ${what} was on a command line`,
      );
    }
  });
});
