import * as os from "node:os";
import * as path from "node:path";

/*
 * Where skyplane keeps things on this machine. Only names: nothing here creates a folder (the runner's
 * ensureHome does, owner-only).
 */

/** The skyplane home: `$SKYPLANE_HOME`, or `~/.skyplane`. It holds stacks, local buckets and logs. */
export function skyplaneHome(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.SKYPLANE_HOME?.trim();
  return path.resolve(configured ? configured : path.join(os.homedir(), ".skyplane"));
}

/** Where the pieces of a skyplane home live; every path is absolute. */
export interface HomeLayout {
  /** The home itself. */
  readonly root: string;
  /** Pulumi's file backend (`file://` URL points here). */
  readonly state: string;
  /** PULUMI_HOME for our engine runs: plugin cache, credentials, workspaces. */
  readonly pulumiHome: string;
  /** The Automation API's work folder: Pulumi.yaml and per-stack settings (encryption salt). */
  readonly workspace: string;
  /** Logs of gateways and engine runs; a stack's gateways log to `<logs>/<stack>/`. */
  readonly logs: string;
  /** The generated secrets passphrase, when the user set none. */
  readonly passphraseFile: string;
  /** Local buckets, one folder each. */
  readonly buckets: string;
  /** Run files of local gateways, one folder per stack: `<run>/<stack>/<gateway id>.json`. */
  readonly run: string;
  /** Skyplane's records of plain folders used as buckets. */
  readonly folders: string;
  /** The destinations each stack has written to (`<work>/<stack>.json`); made when first needed. */
  readonly work: string;
  /** What the runner keeps of each route's live gateways (`<routes>/<stack>.json`), to reuse warm ones. */
  readonly routes: string;
}

/** The layout of the home at `root`; creates nothing. */
export function homeLayout(root: string): HomeLayout {
  return {
    root,
    state: path.join(root, "state"),
    pulumiHome: path.join(root, "pulumi"),
    workspace: path.join(root, "workspace"),
    logs: path.join(root, "logs"),
    passphraseFile: path.join(root, "passphrase"),
    buckets: path.join(root, "buckets"),
    run: path.join(root, "run"),
    folders: path.join(root, "folders"),
    work: path.join(root, "work"),
    routes: path.join(root, "routes"),
  };
}

/**
 * Skyplane's cache outside any home (the engine built by scripts/setup-pulumi.sh, emulator binaries):
 * `$SKYPLANE_CACHE`, else `$XDG_CACHE_HOME/skyplane`, else `~/.cache/skyplane`.
 */
export function skyplaneCache(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.SKYPLANE_CACHE ??
    path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "skyplane")
  );
}
