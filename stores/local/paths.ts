import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { StoreError } from "../types";

/* Path helpers of the local store: confinement to a folder, and following symbolic links safely. */

/** What a symbolic link points to (a file or a folder, with its real path), or nothing usable. */
export async function linkTarget(
  link: string,
): Promise<{ isFile?: boolean; dir?: string; real: string } | undefined> {
  try {
    const stat = await fsp.stat(link);
    const real = await fsp.realpath(link);
    if (stat.isFile()) return { isFile: true, real };
    if (stat.isDirectory()) return { dir: real, real };
  } catch {
    // a broken link
  }
  return undefined;
}

/** True when `p` is not `dir` or below it. */
export function outside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === ".." || rel.startsWith(".." + path.sep) || path.isAbsolute(rel);
}

/** `dir` (a real path) and every folder above it: a link to any of them is a cycle. */
export function realAncestors(dir: string): string[] {
  const out = [dir];
  while (path.dirname(out[out.length - 1]) !== out[out.length - 1])
    out.push(path.dirname(out[out.length - 1]));
  return out;
}

/**
 * Fails when a folder on the way to `key`'s file is a symbolic link that leads out of the root:
 * writing through it would put the object outside the bucket (a link that stays inside is fine).
 */
export function confine(root: string, key: string): void {
  const segments = key.split("/").slice(0, -1);
  let realRoot: string | undefined;
  // The synchronous calls: an lstat per folder takes microseconds, a threadpool round trip far more.
  for (let i = 1; i <= segments.length; i++) {
    const dir = path.join(root, ...segments.slice(0, i));
    const stat = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!stat) return; // missing from here on: created as plain folders
    if (!stat.isSymbolicLink()) continue;
    realRoot ??= fs.realpathSync(root);
    let real: string | undefined;
    try {
      real = fs.realpathSync(dir);
    } catch {
      real = undefined; // a broken link
    }
    if (real === undefined || outside(realRoot, real)) {
      throw new StoreError(
        "INVALID_KEY",
        `${segments.slice(0, i).join("/")} is a symbolic link out of the destination folder: ` +
          `remove it, or choose another destination`,
      );
    }
  }
}
