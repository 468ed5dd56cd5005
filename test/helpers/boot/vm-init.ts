import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { parseUserData, runcmdScript, userDataText, writeFiles } from "./cloud-init";
import {
  parseSystemdRun,
  parseUnitFile,
  serviceEnvironment,
  serviceSpec,
  UnitFile,
} from "./systemd";

/*
 * PID 1 of a rehearsal VM (test/helpers/boot/vm.ts starts it in the VM's private root): it boots the
 * VM as cloud-init does on a stock image (write_files, then the runcmd script under /bin/sh, its output
 * on the serial console) and stands in for systemd. The recording stand-ins on the VM's PATH (recorder.ts:
 * systemctl, systemd-run, shutdown, poweroff, sysctl, modprobe) ask it over a Unix socket; it records
 * every call, really starts services as its children (so the gateway the boot script starts runs), keeps
 * timers enabled until the test fires them, and powers the VM off (this process exits, and with it the
 * whole PID namespace) when asked to. Records never hold environment values: secrets travel there.
 */

/** Where the host's rehearsal folder is mounted inside the VM. */
export const SHARE = "/skyplane-rehearsal";

/** What the harness tells the init (SHARE/vm.json). */
export interface VmConfig {
  /** The VM's name (its hostname). */
  readonly name: string;
  /** TCP ports inside the VM that the host may reach through Unix sockets SHARE/tcp-<port>.sock. */
  readonly bridges: readonly number[];
}

/** One line of SHARE/records.jsonl. */
export type VmRecord =
  | { readonly event: "boot"; readonly at: number }
  | {
      readonly event: "call";
      readonly tool: string;
      readonly argv: readonly string[];
      readonly at: number;
    }
  | { readonly event: "runcmd-exit"; readonly code: number | null; readonly at: number }
  | {
      readonly event: "unit-start";
      readonly unit: string;
      readonly argv: readonly string[];
      readonly envKeys: readonly string[];
      readonly pid: number;
      readonly at: number;
    }
  | {
      readonly event: "unit-exit";
      readonly unit: string;
      readonly code: number | null;
      readonly at: number;
    }
  | {
      readonly event: "timer";
      readonly timer: string;
      readonly unit: string;
      readonly enabled: boolean;
      readonly active: boolean;
      readonly at: number;
    }
  | {
      readonly event: "timer-fired";
      readonly timer: string;
      readonly code: number | null;
      readonly at: number;
    }
  | { readonly event: "poweroff"; readonly by: string; readonly at: number }
  | { readonly event: "error"; readonly message: string; readonly at: number };

const PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const UNIT_DIRS = ["/etc/systemd/system", "/run/systemd/system", "/run/systemd/transient"];

type Unstamped<T> = T extends unknown ? Omit<T, "at"> : never;
const record = (r: Unstamped<VmRecord>) =>
  fs.appendFileSync(`${SHARE}/records.jsonl`, JSON.stringify({ ...r, at: Date.now() }) + "\n");
const serial = (line: string) => fs.appendFileSync(`${SHARE}/serial.log`, line + "\n");

interface Service {
  child?: ChildProcess;
  stopping?: boolean;
  state: "active" | "inactive" | "failed";
  exit?: Promise<number | null>;
}
const services = new Map<string, Service>();
const timers = new Map<string, { unit: string; enabled: boolean; active: boolean }>();
let poweringOff = false;

function unitPath(name: string): string | undefined {
  return UNIT_DIRS.map((d) => path.join(d, name)).find((p) => fs.existsSync(p));
}

function loadUnit(name: string): UnitFile {
  const file = unitPath(name);
  if (!file) throw Object.assign(new Error(`Unit ${name} not found.`), { exit: 5 });
  return parseUnitFile(fs.readFileSync(file, "utf8"));
}

function which(cmd: string): string {
  if (path.isAbsolute(cmd)) return cmd;
  const found = PATH_ENV.split(":")
    .map((d) => path.join(d, cmd))
    .find((p) => fs.existsSync(p));
  if (!found) throw new Error(`Failed to find executable ${cmd}`);
  return found;
}

/** The uid systemd gives the first dynamic user (its range is 61184–65519). */
const DYNAMIC_UID = 61184;
/** systemd's default start limit: 5 starts in 10 s. */
const START_LIMIT = 5;

/** Starts a service; for a oneshot, waits until it exits. Returns its exit code (0 for a started one). */
async function startService(name: string, attempt = 1): Promise<number> {
  const existing = services.get(name);
  if (existing?.state === "active") return 0;
  const unit = loadUnit(name);
  const spec = serviceSpec(unit.Service ?? {}, name);
  const env = serviceEnvironment(spec);
  if (spec.dynamicUser) {
    // systemd.exec(5): a dynamic user has / as its home and no login shell.
    const user = name.replace(/\.service$/, "");
    Object.assign(env, { USER: user, LOGNAME: user, HOME: "/", SHELL: "/usr/sbin/nologin" });
  }
  fs.mkdirSync(`${SHARE}/journal`, { recursive: true });
  const log = fs.openSync(`${SHARE}/journal/${name}.log`, "a");
  const child = spawn(spec.argv[0], spec.argv.slice(1), {
    env,
    cwd: spec.workingDirectory ?? "/",
    stdio: ["ignore", log, log],
    ...(spec.dynamicUser ? { uid: DYNAMIC_UID, gid: DYNAMIC_UID } : {}),
  });
  fs.closeSync(log);
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });
  const service: Service = { child, state: "active" };
  service.exit = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      const failed = code !== 0 && !spec.ignoreFailure;
      service.state = failed ? "failed" : "inactive";
      service.child = undefined;
      record({ event: "unit-exit", unit: name, code: code ?? (signal ? 128 : null) });
      resolve(code);
      const again = spec.restart === "always" || (spec.restart === "on-failure" && failed);
      if (again && !service.stopping && !poweringOff && attempt < START_LIMIT)
        setTimeout(
          () => void startService(name, attempt + 1).catch(() => undefined),
          spec.restartMs,
        );
    }),
  );
  services.set(name, service);
  record({
    event: "unit-start",
    unit: name,
    argv: spec.argv,
    envKeys: Object.keys(env).sort(),
    pid: child.pid as number,
  });
  if (spec.type !== "oneshot") return 0;
  const code = await service.exit;
  return spec.ignoreFailure ? 0 : (code ?? 1);
}

async function stopService(name: string): Promise<void> {
  const s = services.get(name);
  if (!s?.child) return;
  s.stopping = true;
  s.child.kill("SIGTERM");
  const timer = setTimeout(() => s.child?.kill("SIGKILL"), 5000);
  await s.exit;
  clearTimeout(timer);
}

function setTimer(name: string, how: { enabled: boolean; active: boolean }): void {
  const unit = loadUnit(name);
  const target = unit.Timer?.Unit?.at(-1) ?? name.replace(/\.timer$/, ".service");
  if (!unitPath(target)) throw Object.assign(new Error(`Unit ${target} not found.`), { exit: 5 });
  const was = timers.get(name);
  const t = {
    unit: target,
    enabled: how.enabled || (was?.enabled ?? false),
    active: how.active || (was?.active ?? false),
  };
  timers.set(name, t);
  record({ event: "timer", timer: name, unit: target, enabled: t.enabled, active: t.active });
}

async function poweroff(by: string): Promise<void> {
  if (poweringOff) return;
  poweringOff = true;
  record({ event: "poweroff", by });
  serial(`[stand-in systemd] powering off (${by})`);
  await Promise.all([...services.keys()].map(stopService));
  // PID 1 exits: the kernel ends every other process of the VM's PID namespace.
  process.exit(0);
}

interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}
const ok = (stdout = ""): ToolResult => ({ code: 0, stdout, stderr: "" });

async function systemctl(argv: readonly string[]): Promise<ToolResult> {
  const words = argv.filter((a) => !a.startsWith("-"));
  const flags = argv.filter((a) => a.startsWith("-"));
  const unknown = flags.filter(
    (f) => !["--now", "--no-block", "--quiet", "-q", "--no-pager", "--system"].includes(f),
  );
  if (unknown.length) throw new Error(`systemctl stand-in: option(s) ${unknown} not rehearsed`);
  const now = flags.includes("--now");
  const [verb, ...units] = words;
  const named = units.map((u) => (u.includes(".") ? u : `${u}.service`));
  switch (verb) {
    case "daemon-reload":
    case "reset-failed":
      return ok();
    case "start":
    case "restart":
    case "enable": {
      for (const u of named) {
        if (u.endsWith(".timer")) {
          // enable alone only takes effect at the next boot; start or --now makes it wait now.
          setTimer(u, { enabled: verb === "enable", active: verb !== "enable" || now });
          continue;
        }
        if (verb === "restart") await stopService(u);
        if (verb === "enable" && !loadUnit(u).Install)
          return {
            code: 0,
            stdout: "",
            stderr: `The unit files have no installation config (${u}).`,
          };
        if (verb !== "enable" || now) {
          const code = await startService(u);
          if (code !== 0)
            return { code: 1, stdout: "", stderr: `Job for ${u} failed (exit status ${code}).` };
        }
      }
      return ok();
    }
    case "stop":
    case "disable":
      for (const u of named) {
        if (u.endsWith(".timer")) timers.delete(u);
        else if (verb === "stop" || now) await stopService(u);
      }
      return ok();
    case "is-active": {
      const states = named.map((u) =>
        u.endsWith(".timer")
          ? timers.get(u)?.active
            ? "active"
            : "inactive"
          : (services.get(u)?.state ?? "inactive"),
      );
      return {
        code: states.every((s) => s === "active") ? 0 : 3,
        stdout: states.join("\n") + "\n",
        stderr: "",
      };
    }
    case "poweroff":
    case "halt":
      setImmediate(() => void poweroff(`systemctl ${verb}`));
      return ok();
    default:
      throw new Error(`systemctl stand-in: verb ${verb} not rehearsed`);
  }
}

async function systemdRun(argv: readonly string[]): Promise<ToolResult> {
  const run = parseSystemdRun(argv);
  const command = [which(run.command[0]), ...run.command.slice(1)];
  const service = {
    ...run.service,
    ExecStart: [command.map((w) => (/[\s"'\\]/.test(w) ? JSON.stringify(w) : w)).join(" ")],
  };
  const lines = (section: string, body: Record<string, string[]>) => [
    `[${section}]`,
    ...Object.entries(body).flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`)),
  ];
  fs.mkdirSync("/run/systemd/transient", { recursive: true });
  fs.writeFileSync(
    `/run/systemd/transient/${run.unit}`,
    lines("Service", service).join("\n") + "\n",
  );
  if (run.timer) {
    const timer = run.unit.replace(/\.service$/, ".timer");
    fs.writeFileSync(
      `/run/systemd/transient/${timer}`,
      lines("Timer", { ...run.timer, Unit: [run.unit] }).join("\n") + "\n",
    );
    setTimer(timer, { enabled: false, active: true });
    return { code: 0, stdout: "", stderr: `Running timer as unit: ${timer}\n` };
  }
  const code = await startService(run.unit);
  if (run.wait) {
    const exit = await services.get(run.unit)?.exit;
    return { code: exit ?? 1, stdout: "", stderr: "" };
  }
  return { code, stdout: "", stderr: `Running as unit: ${run.unit}\n` };
}

function shutdown(argv: readonly string[]): ToolResult {
  const reboot = argv.some((a) => a === "-r" || a === "--reboot");
  const when = argv.filter((a) => !a.startsWith("-"))[0] ?? "+1";
  if (reboot) return { code: 0, stdout: "", stderr: "reboot is not rehearsed: the VM stays up" };
  if (when !== "now" && when !== "+0")
    return { code: 0, stdout: "", stderr: `shutdown scheduled for ${when} (not rehearsed)` };
  setImmediate(() => void poweroff(`shutdown ${argv.join(" ")}`));
  return ok();
}

async function tool(name: string, argv: readonly string[]): Promise<ToolResult> {
  record({ event: "call", tool: name, argv });
  switch (name) {
    case "sysctl":
    case "modprobe":
      return ok();
    case "systemctl":
      return systemctl(argv);
    case "systemd-run":
      return systemdRun(argv);
    case "shutdown":
      return shutdown(argv);
    case "poweroff":
    case "halt":
      setImmediate(() => void poweroff(name));
      return ok();
    case "reboot":
      return { code: 0, stdout: "", stderr: "reboot is not rehearsed: the VM stays up" };
    default:
      throw new Error(`no stand-in for ${name}`);
  }
}

async function fire(timer: string): Promise<number> {
  const t = timers.get(timer);
  if (!t?.active) throw new Error(`timer ${timer} is not waiting (never started)`);
  const code = await startService(t.unit);
  record({ event: "timer-fired", timer, code });
  return code;
}

function body(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => resolve(parts.length ? JSON.parse(Buffer.concat(parts).toString()) : {}));
    req.on("error", reject);
  });
}

function serve(): void {
  const sock = `${SHARE}/systemd.sock`;
  fs.rmSync(sock, { force: true });
  http
    .createServer((req, res) => {
      const reply = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      void (async () => {
        try {
          const b = (await body(req)) as { tool: string; argv: string[]; timer: string };
          if (req.url === "/exec") reply(200, await tool(b.tool, b.argv));
          else if (req.url === "/fire") reply(200, { code: await fire(b.timer) });
          else if (req.url === "/state")
            reply(200, {
              services: Object.fromEntries(
                [...services].map(([n, s]) => [n, { state: s.state, pid: s.child?.pid }]),
              ),
              timers: Object.fromEntries(timers),
            });
          else reply(404, { error: req.url });
        } catch (err) {
          const e = err as Error & { exit?: number };
          record({ event: "error", message: e.message });
          if (req.url === "/exec")
            reply(200, { code: e.exit ?? 1, stdout: "", stderr: e.message + "\n" });
          else reply(500, { error: e.message });
        }
      })();
    })
    .listen(sock);
}

/** Bridges SHARE/tcp-<port>.sock to 127.0.0.1:<port> in the VM's network, for the test on the host. */
function bridge(port: number): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net: typeof import("node:net") = require("node:net");
  const sock = `${SHARE}/tcp-${port}.sock`;
  fs.rmSync(sock, { force: true });
  net
    .createServer((inbound) => {
      const outbound = net.connect(port, "127.0.0.1");
      inbound.pipe(outbound).pipe(inbound);
      inbound.on("error", () => outbound.destroy());
      outbound.on("error", () => inbound.destroy());
    })
    .listen(sock);
}

/** The serial console: whatever is written to /dev/console lands in SHARE/serial.log. */
function consoleToSerial(): void {
  // Non-blocking, through the event loop: a read blocked in libuv's thread pool would hold up exit.
  const fd = fs.openSync("/dev/console", fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net: typeof import("node:net") = require("node:net");
  new net.Socket({ fd, readable: true, writable: false }).on("data", (d) =>
    fs.appendFileSync(`${SHARE}/serial.log`, d),
  );
}

async function main(): Promise<void> {
  const config = JSON.parse(fs.readFileSync(`${SHARE}/vm.json`, "utf8")) as VmConfig;
  process.on("SIGTERM", () => void poweroff("SIGTERM"));
  consoleToSerial();
  serve();
  for (const port of config.bridges) bridge(port);
  record({ event: "boot" });
  serial(`[stand-in cloud-init] booting ${config.name}`);
  // Init stage: write_files. Final stage: the runcmd script (cloud-init's scripts_user).
  let cfg;
  try {
    cfg = parseUserData(userDataText(fs.readFileSync(`${SHARE}/user-data`)));
    writeFiles(cfg.writeFiles);
  } catch (err) {
    serial(`[stand-in cloud-init] ${(err as Error).message}`);
    record({ event: "error", message: (err as Error).message });
    record({ event: "runcmd-exit", code: null });
    return;
  }
  const script = "/var/lib/cloud/instance/scripts/runcmd";
  fs.mkdirSync(path.dirname(script), { recursive: true });
  fs.writeFileSync(script, runcmdScript(cfg.runcmd), { mode: 0o700 });
  const out = fs.openSync(`${SHARE}/serial.log`, "a");
  const child = spawn(script, [], {
    cwd: "/",
    env: { PATH: PATH_ENV, LANG: "C.UTF-8" },
    stdio: ["ignore", out, out],
  });
  fs.closeSync(out);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  record({ event: "runcmd-exit", code });
  serial(`[stand-in cloud-init] runcmd finished with exit status ${code}`);
}

void main();
