import * as fs from "node:fs";
import * as path from "node:path";

/*
 * The engine's file backend (Pulumi's `diy` backend over gocloud's fileblob) in a home's state folder.
 *
 * fileblob keeps each blob's attributes (content type, MD5) in a `<blob>.attrs` sidecar that it writes
 * with a plain create-then-encode, unlike the blob itself, which it writes to a temporary file and
 * renames into place. An engine killed between the two steps (a client killed while it provisions,
 * a machine that loses power) leaves an empty sidecar, and from then on every read of that blob fails
 * with a bare `EOF`: `pulumi stack ls`, `up` ("failed to load checkpoint: EOF") and `destroy` alike,
 * so the stack could be neither listed nor torn down. Pulumi never reads those attributes, so the
 * backend is opened with `metadata=skip` (no sidecar is written), and the sidecars that homes made
 * before that (or by hand, with a plain `file://` URL) are removed from the blobs an update or a
 * listing reads. See blob/fileblob/attrs.go in gocloud.dev and pkg/backend/diy in pulumi/pulumi.
 */

/** The suffix fileblob gives a blob's attribute sidecar. */
const SIDECAR = ".attrs";

/** The backend URL of a state folder: sidecars off, so that no kill can leave a torn one. */
export function backendUrl(state: string): string {
  return `file://${state}?metadata=skip`;
}

/**
 * Removes the attribute sidecars of the blobs the engine reads to list, update or destroy stacks (the
 * backend's `meta.yaml`, every checkpoint and every lock) and returns how many it removed. History
 * and backups, which no skyplane command reads, are left as they are.
 */
export function dropSidecars(state: string): number {
  const root = path.join(state, ".pulumi");
  let removed = 0;
  const drop = (file: string): void => {
    try {
      fs.rmSync(file);
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  };
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(SIDECAR)) drop(p);
    }
  };
  drop(path.join(root, `meta.yaml${SIDECAR}`));
  walk(path.join(root, "stacks"));
  walk(path.join(root, "locks"));
  return removed;
}
