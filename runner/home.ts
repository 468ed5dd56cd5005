import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UserError } from "../errors";

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
  /** Logs of gateways and engine runs. */
  readonly logs: string;
  /** The generated secrets passphrase, when the user set none. */
  readonly passphraseFile: string;
  /** Local buckets, one folder each. */
  readonly buckets: string;
  /** Run files of local gateways, one folder per stack. */
  readonly run: string;
  /** Skyplane's records of plain folders used as buckets. */
  readonly folders: string;
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
  };
}

/**
 * Creates the folders of a home and returns its layout. They are owner-only (0700): state, secrets,
 * buckets and gateways' run files live there. A folder made by an older version, or by hand with the
 * umask's mode, is tightened to 0700 too.
 */
export function ensureHome(root: string = skyplaneHome()): HomeLayout {
  const layout = homeLayout(root);
  const { state, pulumiHome, workspace, logs, buckets, run, folders } = layout;
  for (const dir of [root, state, pulumiHome, workspace, logs, buckets, run, folders]) {
    privateDir(dir);
  }
  return layout;
}

/** Creates `dir` (and missing parents) for its owner only, or makes an existing one owner-only. */
export function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((fs.statSync(dir).mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

/**
 * The passphrase that encrypts stack secrets: generated once per home and stored with mode 0600.
 * It is written to a temporary file and hard-linked into place, which fails if the file exists, so two
 * processes starting at once agree on one passphrase and never read a half-written one.
 */
export function readOrCreatePassphrase(file: string): string {
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
    fs.writeFileSync(tmp, crypto.randomBytes(32).toString("base64url") + "\n", { mode: 0o600 });
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  const passphrase = fs.readFileSync(file, "utf8").trim();
  if (!passphrase) {
    throw new UserError(
      "EMPTY_PASSPHRASE",
      `the passphrase file ${file} is empty: delete it only if no stack uses it yet`,
    );
  }
  return passphrase;
}
