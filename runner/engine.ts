import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type {
  ConfigMap,
  LocalWorkspace,
  LocalWorkspaceOptions,
  OutputMap,
  PulumiCommand,
  PulumiFn,
  Stack,
} from "@pulumi/pulumi/automation";
import type { SemVer } from "semver";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import type routeProgram from "../index";
import type { ProvisionedGateway } from "../planner/topology";
import { SkyplaneError, UserError } from "../errors";
import { HomeLayout, skyplaneCache, skyplaneHome } from "../common/paths";
import { backendUrl, dropSidecars } from "./backend";
import { ensureHome, readOrCreatePassphrase } from "./home";

/** What the runner hands the route program directly rather than through the stack's config. */
export type RouteInputs = NonNullable<Parameters<typeof routeProgram>[0]>;

/**
 * The Pulumi SDK (its Automation API), the route program and the guardrails, loaded by the first
 * `Engine.open`: they take most of a second to load, and a plan, a warm route or a listing needs none.
 */
async function loadSdk() {
  const [automation, program, guardrails, pulumi] = await Promise.all([
    import("@pulumi/pulumi/automation"),
    import("../index"),
    import("./guardrails"),
    import("@pulumi/pulumi"),
  ]);
  return { automation, routeProgram: program.default, guardrails, pulumi };
}

/** One run of the engine's CLI: which command, and how long it took. */
export interface EngineRun {
  /** The command, e.g. `up`, `destroy`, `stack init`, `version`. */
  readonly command: string;
  /** Wall time, ms. */
  readonly ms: number;
  /** When it started (`performance.now()`, ms). */
  readonly at: number;
}

/** The command words of an engine command line (no flags, no values): what `EngineRun` records. */
function commandOf(args: readonly string[]): string {
  const words: string[] = [];
  for (const a of args) {
    if (a.startsWith("-") || words.length === 2) break;
    words.push(a);
  }
  // `stack select NAME`, `stack init NAME`: the stack's name is no part of the command.
  if (words[0] === "stack" || words[0] === "config") return words.slice(0, 2).join(" ");
  return words[0] ?? "";
}

/**
 * `stack` as one update sees it. The Automation API's `up` and `destroy` read the stack's outputs (two
 * more engine runs) and the update's summary (one more) once the update is over; skyplane takes the
 * outputs from its program and needs no summary, so these reads are answered here instead of by the
 * engine. (The update's result then has no `summary`.)
 */
function oneRun(stack: Stack, outputs: () => Promise<OutputMap>): Stack {
  return Object.create(stack, {
    outputs: { value: outputs },
    info: { value: async () => undefined },
  }) as Stack;
}

/** The engine version; @pulumi/pulumi 3.248.0 is the last SDK that runs on Node 20, and they must match. */
export const PULUMI_VERSION = "3.248.0";

/** The Pulumi project name shared by every skyplane stack (one stack per route). */
export const PROJECT_NAME = "skyplane";

const SETUP_HINT = "run `npm run setup` (or `bash scripts/setup-pulumi.sh`) to build or install it";

/** The cache folder that `scripts/setup-pulumi.sh` fills: `<cache>/skyplane/pulumi-<version>`. */
export function engineCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(skyplaneCache(env), `pulumi-${PULUMI_VERSION}`);
}

/**
 * The folder whose `bin/` holds the engine: `$SKYPLANE_PULUMI_ROOT` when set, else the setup script's
 * cache. The dynamic-provider plugin must sit beside the CLI, since the engine looks there first.
 */
export function findEngineRoot(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.SKYPLANE_PULUMI_ROOT ?? engineCacheRoot(env);
  const cli = path.join(root, "bin", "pulumi");
  if (!fs.existsSync(cli)) {
    throw new UserError(
      "ENGINE_NOT_FOUND",
      `The Pulumi engine is not installed at ${cli}: ${SETUP_HINT}.`,
    );
  }
  if (!fs.existsSync(path.join(root, "bin", "pulumi-resource-pulumi-nodejs"))) {
    throw new UserError(
      "ENGINE_INCOMPLETE",
      `The Pulumi engine at ${root}/bin lacks pulumi-resource-pulumi-nodejs: ${SETUP_HINT}.`,
    );
  }
  return root;
}

/**
 * The folder of this package (the one holding package.json and node_modules). The engine starts the
 * dynamic-provider plugin with this as its working folder, and the plugin resolves @pulumi/pulumi from it.
 */
export function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "Pulumi.yaml"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new SkyplaneError("NO_PROJECT", `no Pulumi.yaml above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** The guardrails' policy pack: the folder holding PulumiPolicy.yaml (its code is compiled to dist/policy). */
export function policyPackDir(): string {
  return path.join(packageRoot(), "policy");
}

/** Environment for every engine run: offline-safe, no update checks, no plugin downloads. */
export function engineEnv(
  home: HomeLayout,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const vars: Record<string, string> = {
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
    SKYPLANE_HOME: home.root,
  };
  // A user's own passphrase (or passphrase file) wins; otherwise the one generated for this home.
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) {
    vars.PULUMI_CONFIG_PASSPHRASE = env.PULUMI_CONFIG_PASSPHRASE;
  } else if (env.PULUMI_CONFIG_PASSPHRASE_FILE !== undefined) {
    vars.PULUMI_CONFIG_PASSPHRASE_FILE = env.PULUMI_CONFIG_PASSPHRASE_FILE;
  } else {
    vars.PULUMI_CONFIG_PASSPHRASE = readOrCreatePassphrase(home.passphraseFile);
  }
  return vars;
}

/**
 * What `pulumi version` said of an engine binary, remembered in the home so that only the first engine
 * of a process after an install runs it (it takes 0.2-0.5 s of a core while the SDK loads): the CLI's
 * real path, size and modification time, with its version. A binary replaced since is asked again.
 */
interface RememberedVersion {
  readonly cli: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly version: string;
}

function versionFile(home: HomeLayout): string {
  return path.join(home.pulumiHome, "skyplane-engine-version.json");
}

/** The identity of the CLI under `root` (what a remembered version is keyed by), or undefined. */
function cliIdentity(root: string): Omit<RememberedVersion, "version"> | undefined {
  try {
    const cli = fs.realpathSync(path.join(root, "bin", "pulumi"));
    const st = fs.statSync(cli);
    return { cli, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  }
}

/**
 * The engine's command without running `pulumi version`, when the home remembers the version of this
 * very binary and it is the pinned one; else undefined (then PulumiCommand.get asks and checks it).
 */
async function knownCommand(root: string, home: HomeLayout): Promise<PulumiCommand | undefined> {
  let stored: RememberedVersion;
  try {
    stored = JSON.parse(fs.readFileSync(versionFile(home), "utf8")) as RememberedVersion;
  } catch {
    return undefined;
  }
  const id = cliIdentity(root);
  if (
    !id ||
    stored.version !== PULUMI_VERSION ||
    stored.cli !== id.cli ||
    stored.size !== id.size ||
    stored.mtimeMs !== id.mtimeMs
  )
    return undefined;
  // The SDK's own SemVer class (its typings hide both it and PulumiCommand's constructor), so that the
  // workspace's feature checks compare versions exactly as after PulumiCommand.get.
  const [{ PulumiCommand: Command }, { minimumVersion }] = await Promise.all([
    import("@pulumi/pulumi/automation/cmd"),
    import("@pulumi/pulumi/automation/minimumVersion") as Promise<unknown> as Promise<{
      minimumVersion: SemVer;
    }>,
  ]);
  const SemVerOf = minimumVersion.constructor as new (v: string) => SemVer;
  const Make = Command as unknown as new (command: string, version: SemVer) => PulumiCommand;
  return new Make(path.resolve(root, "bin", "pulumi"), new SemVerOf(stored.version));
}

/** Remembers the version of the CLI under `root` that `command` reported (best effort). */
function rememberVersion(root: string, home: HomeLayout, command: PulumiCommand): void {
  const id = cliIdentity(root);
  const version = command.version?.toString();
  if (!id || version !== PULUMI_VERSION) return;
  const file = versionFile(home);
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, JSON.stringify({ ...id, version } satisfies RememberedVersion), {
      mode: 0o600,
    });
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true }); // asked again next time
  }
}

/** `s` quoted for a POSIX shell. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The folder of the dynamic-provider plugin that skyplane's stacks use (named in their project settings,
 * so the engine takes it before the one beside the CLI): a script, written into the home when missing or
 * stale, that runs runner/provider-host.js on this process's Node. It starts in about half the time of
 * the SDK's own plugin script, which runs Node twice and loads all of @pulumi/pulumi.
 */
export function providerPluginDir(home: HomeLayout): string {
  const dir = path.join(home.pulumiHome, "skyplane-provider");
  const file = path.join(dir, "pulumi-resource-pulumi-nodejs");
  const host = path.join(__dirname, "provider-host.js");
  const script =
    "#!/bin/sh\n# skyplane's dynamic-provider plugin (written by runner/engine.ts).\n" +
    `exec ${shellQuote(process.execPath)} ${shellQuote(host)} "$@"\n`;
  let current: string | undefined;
  try {
    current = fs.readFileSync(file, "utf8");
  } catch {
    // not written yet
  }
  if (current !== script) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
    fs.writeFileSync(tmp, script, { mode: 0o700 });
    fs.renameSync(tmp, file);
  }
  return dir;
}

/** A located engine bound to one skyplane home: opens route stacks with the project's defaults. */
export class Engine {
  private constructor(
    /** The home whose file backend and passphrase this engine uses. */
    readonly home: HomeLayout,
    private readonly command: PulumiCommand,
    private readonly env: Record<string, string>,
    private readonly sdk: Awaited<ReturnType<typeof loadSdk>>,
    /** Every engine run this engine made, in order (`version` first). */
    readonly runs: EngineRun[],
  ) {
    // Every command the workspaces and stacks of this engine run goes through `run` (automation/cmd.js
    // of the pinned SDK; its typings leave the method out): record each.
    const cmd = command as unknown as {
      run: (args: string[], ...rest: unknown[]) => Promise<unknown>;
    };
    const run = cmd.run.bind(command);
    cmd.run = async (args, ...rest) => {
      const started = performance.now();
      const running = run(args, ...rest);
      try {
        return await running;
      } finally {
        const ms = Math.round(performance.now() - started);
        runs.push({ command: commandOf(args), ms, at: started });
      }
    };
  }

  /** Locates the engine and prepares the home; `home` defaults to `$SKYPLANE_HOME` or `~/.skyplane`. */
  static async open(
    opts: { home?: string; env?: NodeJS.ProcessEnv; credentials?: Record<string, string> } = {},
  ): Promise<Engine> {
    const env = opts.env ?? process.env;
    const root = findEngineRoot(env);
    const home = ensureHome(opts.home ?? skyplaneHome(env));
    // Torn sidecars of a killed engine would fail every read of the stacks they belong to.
    dropSidecars(home.state);
    const started = performance.now();
    const [sdk, known] = await Promise.all([loadSdk(), knownCommand(root, home)]);
    const runs: EngineRun[] = [];
    let command = known;
    if (!command) {
      // `pulumi version` (which PulumiCommand.get runs and checks) once per engine binary: remembered.
      command = await sdk.automation.PulumiCommand.get({ root });
      // Its time is until its answer was read, after the SDK had loaded.
      runs.push({ command: "version", ms: Math.round(performance.now() - started), at: started });
      rememberVersion(root, home, command);
    }
    // The client's credentials reach the providers (and the programs) as their environment.
    return new Engine(home, command, { ...opts.credentials, ...engineEnv(home, env) }, sdk, runs);
  }

  /** True for the engine's refusal of an update because another one holds the stack. */
  isConcurrentUpdate(err: unknown): boolean {
    return err instanceof this.sdk.automation.ConcurrentUpdateError;
  }

  /** The engine's CLI (for commands a user runs by hand, such as installing a provider plugin). */
  get cli(): string {
    return this.command.command;
  }

  /** The engine's own version string, e.g. `3.248.0`. */
  get version(): string {
    return this.command.version?.toString() ?? "unknown";
  }

  /**
   * Options for a LocalWorkspace on this home: file backend, passphrase secrets, our program folder, and
   * skyplane's dynamic-provider plugin (`providerPluginDir`).
   */
  workspaceOptions(): LocalWorkspaceOptions {
    // Pulumi.yaml's `plugins` section, which the SDK's typings leave out (it writes the settings as given).
    const plugins = { providers: [{ name: "pulumi-nodejs", path: providerPluginDir(this.home) }] };
    return {
      pulumiCommand: this.command,
      pulumiHome: this.home.pulumiHome,
      workDir: this.home.workspace,
      secretsProvider: "passphrase",
      projectSettings: {
        name: PROJECT_NAME,
        runtime: "nodejs",
        main: packageRoot(),
        backend: { url: backendUrl(this.home.state) },
        ...{ plugins },
      },
      envVars: this.env,
    };
  }

  /**
   * Creates the stack `name` (a route, e.g. `local-east--local-west`) or selects it if it exists. Its
   * program is skyplane's (index.ts) unless another is given (tests bring their own). This is the one
   * place that hands the Pulumi program to the Automation API.
   */
  async stack(name: string, program: PulumiFn = this.sdk.routeProgram): Promise<Stack> {
    const { LocalWorkspace, Stack: StackClass, StackAlreadyExistsError } = this.sdk.automation;
    const args = { projectName: PROJECT_NAME, stackName: name, program };
    let stack: Stack | undefined;
    if (this.exists(name)) {
      // No engine run for a stack the backend holds: `pulumi stack select` would only make it the
      // workspace's current stack, which nothing here relies on, since every command a Stack runs
      // names its stack (`--stack`). A stack gone meanwhile fails the command that needs it.
      const workspace = await LocalWorkspace.create({ ...this.workspaceOptions(), program });
      const selected = Object.create(workspace, { selectStack: { value: async () => undefined } });
      stack = await StackClass.select(name, selected as typeof workspace);
    } else {
      // One engine run: `stack init`.
      try {
        stack = await LocalWorkspace.createStack(args, this.workspaceOptions());
      } catch (err) {
        if (!(err instanceof StackAlreadyExistsError)) throw err; // made by another process meanwhile
      }
    }
    stack ??= await LocalWorkspace.selectStack(args, this.workspaceOptions());
    // The program runs in this process, whose SKYPLANE_HOME may differ from the engine's home.
    await this.updateConfig(stack, { "skyplane:home": this.home.root });
    return stack;
  }

  /** The stack's checkpoint in the file backend (pkg/backend/diy in pulumi/pulumi lays it out so). */
  private checkpointFile(name: string): string {
    return path.join(this.home.state, ".pulumi", "stacks", PROJECT_NAME, `${name}.json`);
  }

  /** True when the backend holds stack `name` (read from its files: no engine run). */
  exists(name: string): boolean {
    return fs.existsSync(this.checkpointFile(name));
  }

  /**
   * How many resources stack `name` holds, read from its checkpoint (no engine run); 0 for a stack that
   * does not exist or holds none, undefined when the checkpoint cannot be read.
   */
  resourceCount(name: string): number | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.checkpointFile(name), "utf8");
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "ENOENT" ? 0 : undefined;
    }
    try {
      const checkpoint = JSON.parse(text) as {
        checkpoint?: { latest?: { resources?: unknown[] } };
      };
      return checkpoint.checkpoint?.latest?.resources?.length ?? 0;
    } catch {
      return undefined;
    }
  }

  /** The settings file of stack `name` in the workspace (`pulumi stack init` writes it). */
  private settingsFile(name: string): string {
    return path.join(this.home.workspace, `Pulumi.${name}.yaml`);
  }

  /** The stack's settings file as a document (its encryption salt, its config). */
  private readSettings(
    name: string,
  ): { config?: Record<string, unknown> } & Record<string, unknown> {
    try {
      return (parseYaml(fs.readFileSync(this.settingsFile(name), "utf8")) ?? {}) as Record<
        string,
        unknown
      >;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw err;
    }
  }

  /**
   * The stack's config values that are not secret, as `pulumi config` shows them (structured values as
   * JSON), read from its settings file in the workspace: no engine run, unless a structured value holds
   * a secret inside, which only the engine decrypts. Secret values are left out.
   */
  async plainConfig(stack: Stack): Promise<Record<string, string>> {
    const config = this.readSettings(stack.name).config ?? {};
    const holdsSecret = (v: unknown): boolean =>
      typeof v === "object" &&
      v !== null &&
      ("secure" in v || Object.values(v).some((x) => holdsSecret(x)));
    const plain: Record<string, string> = {};
    let decrypted: ConfigMap | undefined;
    for (const [name, value] of Object.entries(config)) {
      if (value === null || value === undefined) continue;
      if (typeof value !== "object") plain[name] = String(value);
      else if (!holdsSecret(value)) plain[name] = JSON.stringify(value);
      else if (!("secure" in value)) {
        decrypted ??= await stack.getAllConfig();
        if (decrypted[name]) plain[name] = decrypted[name].value;
      }
    }
    return plain;
  }

  /**
   * Sets plain config values of `stack` and removes keys (plain or secret) in its settings file, as
   * `pulumi config set`/`rm` would but without an engine run each; the file is replaced atomically, so
   * that a client killed meanwhile never leaves the stack's encryption salt half-written. Values are
   * never secrets: those go through `setSecret` or, from the runner, straight to the program
   * (`RouteInputs`). Callers hold the route's lock, as for any engine run on the stack.
   */
  async updateConfig(
    stack: Stack,
    set: Record<string, string>,
    remove: readonly string[] = [],
  ): Promise<void> {
    const settings = this.readSettings(stack.name);
    const config = { ...settings.config };
    let changed = false;
    for (const [name, value] of Object.entries(set)) {
      if (config[name] === value) continue;
      config[name] = value;
      changed = true;
    }
    for (const name of remove) {
      if (!(name in config)) continue;
      delete config[name];
      changed = true;
    }
    if (!changed) return;
    const file = this.settingsFile(stack.name);
    if (!fs.existsSync(file)) {
      // No settings file (the workspace was removed): the engine makes one, with the stack's salt.
      if (Object.keys(set).length > 0)
        await stack.setAllConfig(
          Object.fromEntries(Object.entries(set).map(([k, value]) => [k, { value }])),
        );
      if (remove.length > 0) await stack.removeAllConfig([...remove]);
      return;
    }
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
    fs.writeFileSync(tmp, stringifyYaml({ ...settings, config }, { lineWidth: 0 }), {
      mode: 0o600,
    });
    fs.renameSync(tmp, file);
  }

  /**
   * One `up` of a route's stack, handing `inputs` to the route program, under the guardrails
   * (`guardrailsTransform`, and any `policyPacks` besides); resolves to the gateways the program
   * reported. Exactly one engine run (see `oneRun`).
   */
  async up(
    stack: Stack,
    inputs: Omit<RouteInputs, "onGateways">,
    opts: { refresh: boolean; policyPacks?: string[]; onOutput?: (line: string) => void },
  ): Promise<ProvisionedGateway[] | undefined> {
    let gateways: ProvisionedGateway[] | undefined;
    // A resource the guardrails refuse fails its registration, but the outputs that depend on it never
    // settle and the update would wait for them: the refusal cancels the update (SIGINT to the engine,
    // which stops before it acts on anything more) and is what `up` rejects with.
    let refusal: unknown;
    const cancel = new AbortController();
    const { pulumi, guardrails, routeProgram } = this.sdk;
    const program = () => {
      // Before any resource: the guardrails see every one.
      pulumi.runtime.registerResourceTransform((args) => {
        try {
          return guardrails.guardrailsTransform(args);
        } catch (err) {
          refusal ??= err;
          cancel.abort();
          throw err;
        }
      });
      return routeProgram({ ...inputs, onGateways: (g) => (gateways = g) });
    };
    const outputs = async (): Promise<OutputMap> =>
      gateways ? { gateways: { value: gateways, secret: false } } : stack.outputs();
    let result;
    try {
      result = await oneRun(stack, outputs).up({
        program,
        refresh: opts.refresh,
        color: "never",
        onOutput: opts.onOutput,
        policyPacks: opts.policyPacks,
        signal: cancel.signal,
      });
    } catch (err) {
      throw refusal ?? err;
    }
    return result.outputs.gateways?.value as ProvisionedGateway[] | undefined;
  }

  /** One `destroy` of a stack: exactly one engine run (see `oneRun`). */
  async destroy(stack: Stack, opts: { onOutput?: (line: string) => void } = {}): Promise<void> {
    await oneRun(stack, async () => ({})).destroy({ color: "never", onOutput: opts.onOutput });
  }

  /**
   * Sets the secret `key` in stack `stackName`'s config. The value reaches the engine on its standard
   * input, never on its command line, which any local user can read in /proc/<pid>/cmdline (the
   * Automation API's setConfig and setAllConfig put values there). `pulumi config set KEY` reads the
   * value from stdin when none is given and stdin is not a terminal, dropping one trailing newline.
   */
  async setSecret(stackName: string, key: string, value: string): Promise<void> {
    const args = ["config", "set", "--secret", key, "--stack", stackName, "--non-interactive"];
    // The environment and folder of the workspace's own engine runs (LocalWorkspace.runPulumiCmd).
    const env = {
      ...process.env,
      PULUMI_HOME: this.home.pulumiHome,
      ...this.env,
      PULUMI_AUTOMATION_API: "true",
    };
    const started = performance.now();
    const child = spawn(this.cli, args, {
      cwd: this.home.workspace,
      env,
      stdio: ["pipe", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", resolve);
      child.stdin.end(value + "\n");
    });
    const ms = Math.round(performance.now() - started);
    this.runs.push({ command: "config set", ms, at: started });
    if (code !== 0) {
      throw new SkyplaneError(
        "ENGINE_FAILED",
        `pulumi ${args.join(" ")} failed (exit ${code}): ${redact(stderr, [value]).trim()}`,
      );
    }
  }

  /** The workspace of this home's stacks, with skyplane's program. */
  async workspace(): Promise<LocalWorkspace> {
    return this.sdk.automation.LocalWorkspace.create({
      ...this.workspaceOptions(),
      program: this.sdk.routeProgram,
    });
  }

  /** Names of the stacks in this home's backend. */
  async listStacks(): Promise<string[]> {
    return (await (await this.workspace()).listStacks()).map((s) => s.name);
  }
}

/** `text` with every occurrence of each of `secrets` replaced by `[secret]` (for quoting engine output). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join("[secret]");
  return out;
}
