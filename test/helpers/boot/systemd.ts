import * as fs from "node:fs";
import * as path from "node:path";

/*
 * What the rehearsal's systemd stand-in understands of systemd, as pure functions: unit files
 * (systemd.unit(5), systemd.service(5), systemd.timer(5)), environment files (systemd.exec(5)
 * EnvironmentFile=), command lines (systemd.service(5) "Command lines") and the options of
 * `systemd-run` (systemd-run(1)). Whatever it does not understand it refuses by name, so that a boot
 * script that starts to rely on more of systemd fails its rehearsal instead of passing by accident.
 */

/** A unit file as sections of key → values (a key may repeat). */
export type UnitFile = Record<string, Record<string, string[]>>;

/** A service as the stand-in runs it. */
export interface ServiceSpec {
  /** The command and its arguments. */
  readonly argv: readonly string[];
  /** Ignore a failing exit status (`ExecStart=-…`). */
  readonly ignoreFailure: boolean;
  /** `simple` (started, runs on) or `oneshot` (start waits until it exits). */
  readonly type: "simple" | "exec" | "oneshot";
  /** Environment= assignments. */
  readonly environment: Readonly<Record<string, string>>;
  /** EnvironmentFile= paths; a leading "-" marks a file that may be missing. */
  readonly environmentFiles: readonly string[];
  /** WorkingDirectory=, if any. */
  readonly workingDirectory?: string;
  /** Restart=: when the service is started again after it exits. */
  readonly restart: "no" | "on-failure" | "always";
  /** RestartSec=, in ms. */
  readonly restartMs: number;
  /** DynamicUser=yes: runs as an unprivileged user allocated for it, with a read-only system. */
  readonly dynamicUser: boolean;
}

/** A systemd time span in ms: `2s`, `500ms`, `1min`, or plain seconds. */
export function timeSpanMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m)?$/.exec(text.trim());
  if (!m) throw new TypeError(`time span ${JSON.stringify(text)} is not rehearsed`);
  const n = Number(m[1]);
  return m[2] === "ms" ? n : m[2] === "min" || m[2] === "m" ? n * 60_000 : n * 1000;
}

/** Parses a unit file (INI-like; `#`/`;` comments; a trailing backslash continues a line). */
export function parseUnitFile(text: string): UnitFile {
  const unit: UnitFile = {};
  let section: Record<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, " ").split("\n");
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = unit[header[1]] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq < 0)
      throw new TypeError(`unit file: cannot read line ${JSON.stringify(line)}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    // An empty assignment resets the list, as systemd does.
    if (value === "") section[key] = [];
    else (section[key] ??= []).push(value);
  }
  return unit;
}

/** Splits a command line as systemd does: words, double or single quotes, backslash escapes. */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= "";
    } else if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + c;
  }
  if (quote) throw new TypeError(`unterminated quote in ${JSON.stringify(line)}`);
  if (word !== undefined) words.push(word);
  if (words.some((w) => /%[^%]/.test(w)))
    throw new TypeError(`systemd stand-in: specifiers (%x) are not rehearsed: ${line}`);
  return words.map((w) => w.replace(/%%/g, "%"));
}

/** Environment= values: space-separated, each `KEY=VALUE`, quotes allowed. */
function environmentAssignments(values: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of values)
    for (const word of splitCommand(v)) {
      const eq = word.indexOf("=");
      if (eq <= 0) throw new TypeError(`Environment=: ${JSON.stringify(word)} is not KEY=VALUE`);
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  return env;
}

const SERVICE_KEYS = new Set([
  "ExecStart",
  "Type",
  "Environment",
  "EnvironmentFile",
  "WorkingDirectory",
  "Restart",
  "RestartSec",
  "User",
  "Group",
  "StandardOutput",
  "StandardError",
  "NoNewPrivileges",
  "PrivateTmp",
  "ProtectSystem",
  "ProtectHome",
  "LimitNOFILE",
  "TimeoutStopSec",
  "KillMode",
  "KillSignal",
  "RemainAfterExit",
  "UMask",
  "DynamicUser",
]);

/** The service a unit file's [Service] section describes. */
export function serviceSpec(service: Record<string, string[]>, name: string): ServiceSpec {
  const unknown = Object.keys(service).filter((k) => !SERVICE_KEYS.has(k));
  if (unknown.length)
    throw new TypeError(`${name}: systemd stand-in does not rehearse [Service] ${unknown}`);
  const user = service.User?.at(-1);
  if (user !== undefined && user !== "root")
    throw new TypeError(`${name}: User=${user} is not rehearsed (the stand-in runs as root)`);
  const exec = service.ExecStart ?? [];
  if (exec.length !== 1) throw new TypeError(`${name}: needs exactly one ExecStart=`);
  let line = exec[0];
  let ignoreFailure = false;
  while (/^[-@+!:]/.test(line)) {
    if (line[0] === "-") ignoreFailure = true;
    else throw new TypeError(`${name}: ExecStart prefix ${line[0]} is not rehearsed`);
    line = line.slice(1);
  }
  const argv = splitCommand(line);
  if (!path.isAbsolute(argv[0] ?? ""))
    throw new TypeError(`${name}: ExecStart must name an absolute path, not ${argv[0]}`);
  const type = (service.Type?.at(-1) ?? "simple") as ServiceSpec["type"];
  if (!["simple", "exec", "oneshot"].includes(type))
    throw new TypeError(`${name}: Type=${type} is not rehearsed`);
  const restart = (service.Restart?.at(-1) ?? "no") as ServiceSpec["restart"];
  if (!["no", "on-failure", "always"].includes(restart))
    throw new TypeError(`${name}: Restart=${restart} is not rehearsed`);
  const dynamicUser = service.DynamicUser?.at(-1) ?? "no";
  if (!["yes", "no", "true", "false"].includes(dynamicUser))
    throw new TypeError(`${name}: DynamicUser=${dynamicUser} is not a boolean`);
  if (dynamicUser === "yes" || dynamicUser === "true") {
    if (user !== undefined) throw new TypeError(`${name}: DynamicUser with User= is not rehearsed`);
  }
  return {
    argv,
    ignoreFailure,
    type,
    restart,
    restartMs: timeSpanMs(service.RestartSec?.at(-1) ?? "100ms"),
    dynamicUser: dynamicUser === "yes" || dynamicUser === "true",
    environment: environmentAssignments(service.Environment ?? []),
    environmentFiles: service.EnvironmentFile ?? [],
    workingDirectory: service.WorkingDirectory?.at(-1),
  };
}

/** Reads an environment file as systemd does: KEY=VALUE lines, `#` comments, optional quotes. */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new TypeError("environment file: a line is not KEY=VALUE");
    let value = m[2];
    if (/^".*"$/.test(value) || /^'.*'$/.test(value)) value = value.slice(1, -1);
    env[m[1]] = value;
  }
  return env;
}

/** The environment a service starts with: systemd's own PATH, then its files, then Environment=. */
export function serviceEnvironment(spec: ServiceSpec, root = "/"): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    LANG: "C.UTF-8",
  };
  // systemd reads Environment= and EnvironmentFile= in that order, files overriding.
  Object.assign(env, spec.environment);
  for (const f of spec.environmentFiles) {
    const optional = f.startsWith("-");
    const file = path.join(root, optional ? f.slice(1) : f);
    if (!fs.existsSync(file)) {
      if (optional) continue;
      throw new TypeError(`EnvironmentFile ${file} is missing`);
    }
    Object.assign(env, parseEnvironmentFile(fs.readFileSync(file, "utf8")));
  }
  return env;
}

/** What a `systemd-run` command line asks for. */
export interface TransientRun {
  /** The unit name (`NAME.service`); systemd makes one up when none is given. */
  readonly unit: string;
  /** The service, as its properties describe it. */
  readonly service: Record<string, string[]>;
  /** A timer to trigger it instead of starting it now (`--on-calendar`, `--on-active`, …). */
  readonly timer?: Record<string, string[]>;
  /** Wait until the service exits (`--wait`). */
  readonly wait: boolean;
  /** The command as given (systemd-run looks a bare name up in PATH). */
  readonly command: readonly string[];
}

/** Parses `systemd-run` arguments (the subset the stand-in rehearses; any other option is refused). */
export function parseSystemdRun(args: readonly string[]): TransientRun {
  let unit: string | undefined;
  const service: Record<string, string[]> = {};
  const timer: Record<string, string[]> = {};
  let wait = false;
  const prop = (target: Record<string, string[]>, kv: string) => {
    const eq = kv.indexOf("=");
    if (eq <= 0)
      throw new TypeError(`systemd-run: property ${JSON.stringify(kv)} is not KEY=VALUE`);
    (target[kv.slice(0, eq)] ??= []).push(kv.slice(eq + 1));
  };
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("-")) break;
    if (a === "--") {
      i++;
      break;
    }
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? a.split(/=(.*)/s) : [a];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case "--unit":
      case "-u":
        unit = value();
        break;
      case "--property":
      case "-p":
        prop(service, value());
        break;
      case "--setenv":
      case "-E":
        (service.Environment ??= []).push(JSON.stringify(value()));
        break;
      case "--service-type":
        (service.Type ??= []).push(value());
        break;
      case "--working-directory":
        (service.WorkingDirectory ??= []).push(value());
        break;
      case "--on-calendar":
        (timer.OnCalendar ??= []).push(value());
        break;
      case "--on-active":
        (timer.OnActiveSec ??= []).push(value());
        break;
      case "--on-boot":
        (timer.OnBootSec ??= []).push(value());
        break;
      case "--on-unit-active":
        (timer.OnUnitActiveSec ??= []).push(value());
        break;
      case "--timer-property":
        prop(timer, value());
        break;
      case "--description":
        value();
        break;
      case "--wait":
        wait = true;
        break;
      case "--collect":
      case "-G":
      case "--quiet":
      case "-q":
      case "--no-block":
      case "--same-dir":
        break;
      case "--remain-after-exit":
      case "-r":
        (service.RemainAfterExit ??= []).push("yes");
        break;
      default:
        throw new TypeError(`systemd-run stand-in: option ${flag} is not rehearsed`);
    }
  }
  const command = args.slice(i);
  if (!command.length) throw new TypeError("systemd-run: no command given");
  const quoted = command.map((w) => (/[\s"'\\]/.test(w) ? JSON.stringify(w) : w)).join(" ");
  service.ExecStart = [quoted];
  const name = unit ?? `run-r${Date.now().toString(16)}`;
  return {
    unit: name.endsWith(".service") ? name : `${name}.service`,
    service,
    timer: Object.keys(timer).length ? timer : undefined,
    wait,
    command,
  };
}
