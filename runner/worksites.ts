import * as fs from "node:fs";
import * as path from "node:path";
import { homeLayout } from "../common/paths";
import { openStore, StoreContext, StoreUri } from "../stores/core";

/*
 * The destinations a route's stack has written to, kept in `<home>/work/<stack>.json`, so that
 * `skyplane deprovision` (and a dataplane's own deprovision) can remove the work files that gateways
 * and clients killed mid-write left there: once the gateways are stopped, every such file is orphaned.
 */

/** The file that lists the destinations of `stack`. */
function sitesFile(home: string, stack: string): string {
  return path.join(homeLayout(home).work, `${stack}.json`);
}

/** The destinations recorded for `stack`. */
function readSites(home: string, stack: string): StoreUri[] {
  try {
    return JSON.parse(fs.readFileSync(sitesFile(home, stack), "utf8")) as StoreUri[];
  } catch {
    return [];
  }
}

/** Records that `stack` writes to the bucket or folder of `dst`, if its store keeps work files. */
export function recordDestination(ctx: StoreContext, stack: string, dst: StoreUri): void {
  if (!openStore(dst, ctx).cleanupTemporaries) return;
  const sites = readSites(ctx.home, stack);
  if (sites.some((s) => s.scheme === dst.scheme && s.bucket === dst.bucket)) return;
  sites.push({ scheme: dst.scheme, bucket: dst.bucket, key: "" });
  fs.mkdirSync(path.dirname(sitesFile(ctx.home, stack)), { recursive: true, mode: 0o700 });
  fs.writeFileSync(sitesFile(ctx.home, stack), JSON.stringify(sites) + "\n", { mode: 0o600 });
}

/**
 * Removes the orphaned work files in every destination recorded for `stack`, then the record.
 * Resolves to how many work files it removed.
 */
export async function cleanupDestinations(ctx: StoreContext, stack: string): Promise<number> {
  let removed = 0;
  for (const site of readSites(ctx.home, stack)) {
    removed +=
      (await openStore(site, ctx)
        .cleanupTemporaries?.()
        .catch(() => 0)) ?? 0;
  }
  fs.rmSync(sitesFile(ctx.home, stack), { force: true });
  return removed;
}
