import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as YAML from "yaml";

/*
 * A small stand-in for cloud-init, doing for a rehearsal VM what cloud-init does on a stock Ubuntu image
 * with the two modules a gateway's user data uses: `write_files` (init stage: each file with its
 * permissions, parents made as needed, owner root) and `runcmd` (final stage: the commands written as one
 * /bin/sh script, a list item quoted word by word, a string item verbatim, run in order without `set -e`,
 * so a failing command does not stop the next). Any other module or write_files option is refused, so a
 * renderer that starts to need one fails the rehearsal instead of being silently half-run. See
 * https://cloudinit.readthedocs.io/en/latest/reference/modules.html (write_files, runcmd) and
 * cloud-init's `util.shellify`.
 */

/** One `write_files` entry. */
export interface WriteFile {
  readonly path: string;
  readonly content: string;
  /** Octal permission bits, e.g. 0o644 (cloud-init's default: 0o644). */
  readonly mode: number;
}

/** The parts of a `#cloud-config` this stand-in runs. */
export interface CloudConfig {
  readonly writeFiles: readonly WriteFile[];
  readonly runcmd: readonly (string | readonly string[])[];
}

const MODULES = new Set(["write_files", "runcmd"]);
const FILE_KEYS = new Set(["path", "content", "permissions", "owner"]);

/** User data as cloud-init reads it: gzip-compressed data (EC2 over 16 KB) is unpacked first. */
export function userDataText(raw: Buffer): string {
  const gzipped = raw.length > 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  return (gzipped ? zlib.gunzipSync(raw) : raw).toString("utf8");
}

/** Parses user data, refusing whatever this stand-in would not run as cloud-init does. */
export function parseUserData(text: string): CloudConfig {
  if (!text.startsWith("#cloud-config\n"))
    throw new TypeError("user data must start with '#cloud-config'");
  const doc = YAML.parse(text) as Record<string, unknown>;
  const unknown = Object.keys(doc).filter((k) => !MODULES.has(k));
  if (unknown.length) throw new TypeError(`cloud-init stand-in: unsupported module(s) ${unknown}`);
  const writeFiles = ((doc.write_files ?? []) as Record<string, unknown>[]).map((f) => {
    const extra = Object.keys(f).filter((k) => !FILE_KEYS.has(k));
    if (extra.length) throw new TypeError(`write_files ${f.path}: unsupported key(s) ${extra}`);
    if (f.owner !== undefined && f.owner !== "root:root")
      throw new TypeError(`write_files ${f.path}: owner ${f.owner} (only root:root is rehearsed)`);
    if (typeof f.path !== "string" || !path.isAbsolute(f.path))
      throw new TypeError(`write_files: path ${JSON.stringify(f.path)} is not absolute`);
    const permissions = String(f.permissions ?? "0644");
    if (!/^0?[0-7]{3,4}$/.test(permissions))
      throw new TypeError(`write_files ${f.path}: permissions ${permissions} are not octal`);
    return { path: f.path, content: String(f.content ?? ""), mode: parseInt(permissions, 8) };
  });
  const runcmd = (doc.runcmd ?? []) as (string | string[])[];
  for (const c of runcmd)
    if (typeof c !== "string" && !(Array.isArray(c) && c.every((a) => typeof a !== "object")))
      throw new TypeError(`runcmd: ${JSON.stringify(c)} is neither a string nor a list of words`);
  return { writeFiles, runcmd: runcmd.map((c) => (Array.isArray(c) ? c.map(String) : c)) };
}

/** The runcmd script as cloud-init writes it: a list quoted word by word, a string as is. */
export function runcmdScript(runcmd: CloudConfig["runcmd"]): string {
  const quote = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;
  return (
    "#!/bin/sh\n" +
    runcmd.map((c) => (typeof c === "string" ? c : c.map(quote).join(" "))).join("\n") +
    "\n"
  );
}

/** Writes the files under `root` ("/" on the VM), as cloud-init's write_files does. */
export function writeFiles(files: readonly WriteFile[], root = "/"): void {
  for (const f of files) {
    const target = path.join(root, f.path);
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    fs.writeFileSync(target, f.content);
    fs.chmodSync(target, f.mode);
  }
}
