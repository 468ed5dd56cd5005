import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { HomeLayout, homeLayout, skyplaneHome } from "../common/paths";
import { UserError } from "../errors";

/*
 * The skyplane home on disk: its folders (named in common/paths.ts) made owner-only, and the secrets
 * passphrase of its stacks.
 */

/**
 * Creates the folders of a home and returns its layout. They are owner-only (0700): state, secrets,
 * buckets and gateways' run files live there. A folder made by an older version, or by hand with the
 * umask's mode, is tightened to 0700 too.
 */
export function ensureHome(root: string = skyplaneHome()): HomeLayout {
  const layout = homeLayout(root);
  const { state, pulumiHome, workspace, logs, buckets, run, folders, routes } = layout;
  for (const dir of [root, state, pulumiHome, workspace, logs, buckets, run, folders, routes]) {
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

/**
 * The passphrase of a home's stacks as the engine gets it (`engineEnv`): the user's own
 * (PULUMI_CONFIG_PASSPHRASE, or the file PULUMI_CONFIG_PASSPHRASE_FILE names), else the generated one.
 */
export function stackPassphrase(home: HomeLayout, env: NodeJS.ProcessEnv = process.env): string {
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return env.PULUMI_CONFIG_PASSPHRASE;
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE !== undefined) {
    try {
      return fs.readFileSync(env.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").trim();
    } catch (err) {
      throw new UserError(
        "UNREADABLE",
        `PULUMI_CONFIG_PASSPHRASE_FILE names ${env.PULUMI_CONFIG_PASSPHRASE_FILE}, which cannot be read: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  return readOrCreatePassphrase(home.passphraseFile);
}
