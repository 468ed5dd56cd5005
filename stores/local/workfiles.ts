import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { liveStartTime, ownProcess } from "../../common/process";
import { byteLength, pieces, WriteData } from "../types";

/*
 * Work files of a folder-backed bucket: what a write holds until it is renamed into place (a whole
 * object, or the parts of a multipart upload written in place). They live in one work folder per
 * bucket, `<root>/.skyplane/tmp/<owner>/`, which listings never show, under short names (so a key
 * whose last segment is NAME_MAX bytes long still has room). `<owner>` names the process that made
 * them, by pid and start time, so that a later run or `skyplane deprovision` removes exactly the work
 * files of processes that are gone (killed mid-write) and never one a live writer still uses.
 */

/** The work folder below a bucket's root. */
export const WORK_DIR = path.join(".skyplane", "tmp");

let self: string | undefined;

/** This process as a work-file owner: `<pid>-<start time>` (`<pid>-0` where /proc is missing). */
export function ownerId(): string {
  if (self === undefined) {
    const me = ownProcess();
    self = `${me.pid}-${me.startTime}`;
  }
  return self;
}

/** True while the process an owner id names still runs (the same process, not a recycled pid). */
export function ownerAlive(owner: string): boolean {
  const m = /^(\d+)-(\d+)$/.exec(owner);
  if (!m) return false;
  const pid = Number(m[1]);
  if (m[2] === "0") {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  }
  return liveStartTime(pid) === m[2];
}

/** A fresh work file name of this process below `root` (the folder is not created). */
export function newWorkFile(root: string, kind: string): string {
  return path.join(root, WORK_DIR, ownerId(), `${kind}-${crypto.randomBytes(6).toString("hex")}`);
}

/*
 * The calls on a file's name and handle (open, chmod, stat, close, rename, mkdir) are synchronous: each
 * takes microseconds, where a round trip through the threadpool costs tens of microseconds of CPU, and
 * a bucket of small objects makes several per object. Bytes move through the threadpool only where
 * there are many of them (over SYNC_IO_BYTES at once).
 */

/** Writes and read-backs up to this many bytes use the synchronous calls. */
export const SYNC_IO_BYTES = 256 * 1024;

/**
 * Opens `file` with `flags` (a descriptor), creating its folder when it is missing: a cleanup may
 * remove an empty owner folder at any time, so a missing folder is made again (and the open tried again).
 */
export function openWorkFile(file: string, flags: string): number {
  for (let attempt = 0; ; attempt++) {
    try {
      // Owner-only, whatever the umask, like every file and folder of the store.
      return fs.openSync(file, flags, 0o600);
    } catch (err) {
      // ENOTDIR too: mkdir reports it when the folder it found existing is gone when it looks again.
      const code = (err as NodeJS.ErrnoException).code;
      if (!(code === "ENOENT" || code === "ENOTDIR") || flags === "r+" || attempt >= 10) throw err;
    }
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
    }
  }
}

/**
 * Removes the work files of owners that are gone and the empty folders of the rest; with
 * `removeRecords`, also the `.skyplane` folder when nothing is left in it (a plain folder keeps its
 * records elsewhere). Returns how many work files it removed.
 */
export async function removeOrphans(root: string, removeRecords: boolean): Promise<number> {
  const dir = path.join(root, WORK_DIR);
  let owners: string[];
  try {
    owners = await fsp.readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const owner of owners) {
    const folder = path.join(dir, owner);
    if (ownerAlive(owner)) {
      await fsp.rmdir(folder).catch(() => undefined); // only when empty
      continue;
    }
    removed += (await fsp.readdir(folder).catch(() => [])).length;
    await fsp.rm(folder, { recursive: true, force: true });
  }
  tidy(root, removeRecords);
  return removed;
}

/**
 * Removes this process's work folder, the bucket's work folder and (with `removeRecords`) the
 * `.skyplane` folder, each only if it is empty: a plain folder is left with nothing but its files.
 */
export function tidy(root: string, removeRecords: boolean): void {
  const work = path.join(root, WORK_DIR);
  const gone = (dir: string) => {
    try {
      fs.rmdirSync(dir);
      return true;
    } catch {
      return false; // not empty, or not there
    }
  };
  gone(path.join(work, ownerId()));
  if (gone(work) && removeRecords) gone(path.dirname(work));
}

/** writev(2) at `at` through the threadpool; resolves to the bytes written. */
function writevAt(fd: number, list: Buffer[], at: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.writev(fd, list, at, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** Writes `data` through `fd` at `offset`, in one writev where it can. */
export async function writeAll(fd: number, data: WriteData, offset: number): Promise<void> {
  let list = pieces(data).filter((p) => p.length > 0);
  let at = offset;
  const sync = byteLength(data) <= SYNC_IO_BYTES;
  while (list.length > 0) {
    let written = sync ? fs.writevSync(fd, list, at) : await writevAt(fd, list, at);
    at += written;
    // A short write leaves the rest of the pieces to write again.
    while (list.length > 0 && written >= list[0].length) {
      written -= list[0].length;
      list = list.slice(1);
    }
    if (written > 0) list = [list[0].subarray(written), ...list.slice(1)];
  }
}

/**
 * Renames a work file into place, making the target's folder if it is missing. Across file systems (a
 * mount inside the folder) it copies to a short hidden name beside the target first, so that the
 * target still appears whole or not at all. Resolves to true when it copied (the file is a new one).
 */
export async function renameInto(tmp: string, file: string, again = false): Promise<boolean> {
  try {
    fs.renameSync(tmp, file);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && !again) {
      // Most often the target's folder is not there yet: made (owner-only) and tried once more.
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      return renameInto(tmp, file, true);
    }
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    const near = path.join(path.dirname(file), `.sky-${crypto.randomBytes(4).toString("hex")}.tmp`);
    try {
      await fsp.copyFile(tmp, near);
      await fsp.rename(near, file);
    } finally {
      await fsp.rm(near, { force: true });
      await fsp.rm(tmp, { force: true });
    }
    return true;
  }
}
