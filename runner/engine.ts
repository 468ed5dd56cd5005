import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import type { LocalWorkspaceOptions, PulumiFn } from "@pulumi/pulumi/automation";
import routeProgram from "../index";
import { SkyplaneError, UserError } from "../errors";
import { HomeLayout, skyplaneCache, skyplaneHome } from "../common/paths";
import { ensureHome, readOrCreatePassphrase } from "./home";

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

/** A located engine bound to one skyplane home: opens route stacks with the project's defaults. */
export class Engine {
  private constructor(
    /** The home whose file backend and passphrase this engine uses. */
    readonly home: HomeLayout,
    private readonly command: PulumiCommand,
    private readonly env: Record<string, string>,
  ) {}

  /** Locates the engine and prepares the home; `home` defaults to `$SKYPLANE_HOME` or `~/.skyplane`. */
  static async open(
    opts: { home?: string; env?: NodeJS.ProcessEnv; credentials?: Record<string, string> } = {},
  ): Promise<Engine> {
    const env = opts.env ?? process.env;
    const root = findEngineRoot(env);
    const home = ensureHome(opts.home ?? skyplaneHome(env));
    const command = await PulumiCommand.get({ root });
    // The client's credentials reach the providers (and the programs) as their environment.
    return new Engine(home, command, { ...opts.credentials, ...engineEnv(home, env) });
  }

  /** The engine's CLI (for commands a user runs by hand, such as installing a provider plugin). */
  get cli(): string {
    return this.command.command;
  }

  /** The engine's own version string, e.g. `3.248.0`. */
  get version(): string {
    return this.command.version?.toString() ?? "unknown";
  }

  /** Options for a LocalWorkspace on this home: file backend, passphrase secrets, our program folder. */
  workspaceOptions(): LocalWorkspaceOptions {
    return {
      pulumiCommand: this.command,
      pulumiHome: this.home.pulumiHome,
      workDir: this.home.workspace,
      secretsProvider: "passphrase",
      projectSettings: {
        name: PROJECT_NAME,
        runtime: "nodejs",
        main: packageRoot(),
        backend: { url: `file://${this.home.state}` },
      },
      envVars: this.env,
    };
  }

  /**
   * Creates the stack `name` (a route, e.g. `local-east--local-west`) or selects it if it exists. Its
   * program is skyplane's (index.ts) unless another is given (tests bring their own). This is the one
   * place that hands the Pulumi program to the Automation API.
   */
  async stack(name: string, program: PulumiFn = routeProgram): Promise<Stack> {
    const stack = await LocalWorkspace.createOrSelectStack(
      { projectName: PROJECT_NAME, stackName: name, program },
      this.workspaceOptions(),
    );
    // The program runs in this process, whose SKYPLANE_HOME may differ from the engine's home.
    await stack.setConfig("skyplane:home", { value: this.home.root });
    return stack;
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
    if (code !== 0) {
      throw new SkyplaneError(
        "ENGINE_FAILED",
        `pulumi ${args.join(" ")} failed (exit ${code}): ${redact(stderr, [value]).trim()}`,
      );
    }
  }

  /** The workspace of this home's stacks, with skyplane's program. */
  async workspace(): Promise<LocalWorkspace> {
    return LocalWorkspace.create({ ...this.workspaceOptions(), program: routeProgram });
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
