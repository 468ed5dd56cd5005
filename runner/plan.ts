import * as fs from "node:fs";
import * as path from "node:path";
import type { BucketGrants } from "../planner/program";
import { CLIENT_REGION } from "../common/regions";
import { gatewayRegionFor } from "../planner/regions";
import { routeStackName, Topology } from "../planner/topology";
import {
  bucketUri,
  listAll,
  ObjectStore,
  openStore,
  parseStoreUri,
  StoreContext,
  StoreError,
  StoreUri,
} from "../stores/core";
import { isUserError, SkyplaneError, UserError } from "../errors";
import { ChunkingOptions, chunkCount, destinationKey, mustFit, ObjectPair } from "./chunker";
import { Listing, ListingBuilder, listingDir } from "./listing";
import { checkOverlap } from "./overlap";
import { diffSync, SyncDiff } from "./sync";

/*
 * One copy or sync, planned once: the URIs parsed, both regions resolved, the source listed (once),
 * the route's topology, the buckets the gateways are granted, and what it should take and cost. The
 * CLI shows it, provisioning grants its buckets, the transfer runs its listing; nothing after this
 * parses, resolves or lists again.
 */

/** What to plan. */
export interface PlanRequest {
  /** Source URI or path. */
  readonly src: string;
  /** Destination URI or path. */
  readonly dst: string;
  /** Copy everything under the source prefix (a sync always does). */
  readonly recursive?: boolean;
  /** List what symbolic links in a source folder point to; default skip them. */
  readonly followSymlinks?: boolean;
  /** Plan a sync: copy only what is missing or different at the destination. */
  readonly sync?: boolean;
  /** With `sync`: delete destination objects the source lacks, after the copy. */
  readonly delete?: boolean;
  /**
   * A copy's plan comes back as soon as its listing has begun, and the listing goes on while the
   * transfer takes each object as it is listed (`SkyplaneClient.copy` and `cp -y`, which show no plan
   * first): its `listing` and `estimate` grow until `listing.complete`, and what ends the listing early
   * (an invalid key, an object too large, nothing to copy) ends the transfer that follows it, having
   * copied the objects listed before. A sync is listed in full first (it compares both ends).
   */
  readonly stream?: boolean;
}

/** What planning needs from its caller. */
export interface PlanContext {
  /** Where stores find local buckets, credentials and endpoints. */
  readonly stores: StoreContext;
  /**
   * The topology from the source region to the destination region (plans it, or checks a dataplane's).
   * `onClient`: the transfer may run on the client's gateways alone (`runsOnClient`); a caller that
   * plans the route takes that route, a dataplane keeps its own.
   */
  readonly route: (srcRegion: string, dstRegion: string, onClient: boolean) => Topology;
  /** How objects are cut into chunks. */
  readonly chunking: ChunkingOptions;
  /** Opens a store; default the scheme registry's `openStore`. */
  readonly open?: (uri: StoreUri, ctx: StoreContext) => ObjectStore;
  /** Objects a listing keeps in memory before it spools to a file (`listing.ts`). */
  readonly memoryObjects?: number;
}

/** One end of a transfer. */
export interface PlanEnd {
  /** As the user wrote it. */
  readonly uri: string;
  /** Parsed. */
  readonly parsed: StoreUri;
  /** The bucket's region (`local:client` for a folder). */
  readonly region: string;
  /**
   * The region whose gateways read (source) or write (destination) it: the bucket's own, or
   * `local:client` when the transfer runs on the client (`runsOnClient`).
   */
  readonly gateways: string;
  /** False for a destination folder that the transfer creates. */
  readonly exists: boolean;
}

/**
 * Whether a transfer between `src` and `dst` can run on the client's gateways alone: one end is a
 * folder on this machine and the other a cloud bucket (s3, gs, azure, an emulator's too). Gateways in
 * the bucket's region would only relay what the client's own link carries either way, at the price of
 * a second hop (and, on a cloud, a VM's boot and hours); so the client's gateways read one end and write
 * the other themselves, over the store's API, as any client tool does. A local bucket (local://) lives
 * in a region of the local cloud, whose boundaries only gateways cross: it keeps its region's gateways.
 */
export function runsOnClient(
  src: { scheme: string; region: string },
  dst: { scheme: string; region: string },
): boolean {
  const cloud = (scheme: string) => scheme !== "file" && scheme !== "local";
  const client = (e: { scheme: string; region: string }) =>
    e.scheme === "file" && e.region === CLIENT_REGION;
  return (client(src) && cloud(dst.scheme)) || (cloud(src.scheme) && client(dst));
}

/** What a plan should move, take and cost. */
export interface PlanEstimate {
  /** Objects to move. */
  readonly objects: number;
  /** Bytes to move. */
  readonly bytes: number;
  /** Chunk requests the objects are cut into. */
  readonly chunks: number;
  /** The topology's throughput, Gbit/s. */
  readonly throughputGbps: number;
  /** The topology's USD per GB (egress on every hop, and gateway time). */
  readonly costPerGB: Topology["estimate"]["costPerGB"];
  /** Seconds the bytes take at that throughput (provisioning aside). */
  readonly seconds: number;
  /** USD the bytes cost at that price. */
  readonly costUSD: number;
}

/** A copy or sync, planned once. Dispose it (`await using`) to remove a spooled listing. */
export interface TransferPlan extends AsyncDisposable {
  /** Copy, or sync (only what differs). */
  readonly kind: "copy" | "sync";
  /** Where the objects come from. */
  readonly src: PlanEnd;
  /** Where they go. */
  readonly dst: PlanEnd;
  /** Everything under the source prefix. */
  readonly recursive: boolean;
  /** Symbolic links in a source folder are followed (inside it). */
  readonly followSymlinks: boolean;
  /** A sync deletes extras at the destination. */
  readonly delete: boolean;
  /** The route's gateways and overlay. */
  readonly topology: Topology;
  /** The Pulumi stack that holds the route's gateways. */
  readonly stackName: string;
  /** The buckets the gateways may read and write (as chunk requests name them). */
  readonly buckets: BucketGrants;
  /** How objects are cut into chunks. */
  readonly chunking: ChunkingOptions;
  /** The objects to move, listed once. */
  readonly listing: Listing;
  /** For a sync: what stays and what is extra at the destination. */
  readonly sync?: SyncDiff;
  /** What it should move, take and cost. */
  readonly estimate: PlanEstimate;
  /** Symbolic links in the source that are not copied (without `followSymlinks`, or in a cycle). */
  readonly skippedLinks: number;
  /** What the user should know before going ahead (a destination that overlaps the source). */
  readonly warnings: readonly string[];
}

/** A StoreError the user can fix as a UserError; anything else as it is. */
export function asUserError(err: unknown): unknown {
  return err instanceof StoreError && isUserError(err)
    ? new UserError(err.code, err.message, { cause: err })
    : err;
}

/** Parses a URI, reporting a malformed one as a UserError. */
export function parseUri(uri: string): StoreUri {
  try {
    return parseStoreUri(uri);
  } catch (err) {
    throw asUserError(err);
  }
}

/**
 * The destination of a copy of one object to a path on this machine that does not exist yet: a file of
 * that name (`cp s3://b/x ./x.txt` writes `x.txt`, as `cp`, `aws s3 cp` and `rclone copyto` do), unless the
 * path ends with a slash, which asks for a folder. A recursive copy's is always a folder.
 */
function singleFileDestination(uri: StoreUri, written: string, recursive: boolean): StoreUri {
  if (recursive || uri.scheme !== "file" || uri.key !== "") return uri;
  if (written.endsWith("/") || written.endsWith(path.sep) || fs.existsSync(uri.bucket)) return uri;
  return { scheme: "file", bucket: path.dirname(uri.bucket), key: path.basename(uri.bucket) };
}

/** The buckets a copy from `src` to `dst` reads and writes, as chunk requests name them. */
export function bucketsOf(src: StoreUri, dst: StoreUri): BucketGrants {
  return { read: [bucketUri(src)], write: [bucketUri(dst)] };
}

/** Whether a bucket exists, and its region: a folder is in the client's region. */
async function locate(
  uri: StoreUri,
  store: ObjectStore,
  role: "source" | "destination",
): Promise<{ region: string; exists: boolean }> {
  let exists: boolean;
  try {
    exists = await store.exists(); // also proves the credentials, before anything is provisioned
  } catch (err) {
    throw asUserError(err);
  }
  if (uri.scheme === "file") {
    // A destination folder is created when the transfer starts; a source folder must be there.
    if (!exists && role === "source")
      throw new UserError("NO_SUCH_BUCKET", `the source ${bucketUri(uri)} does not exist`);
    return { region: CLIENT_REGION, exists };
  }
  const local = uri.scheme === "local";
  if (!exists) {
    throw new UserError(
      "NO_SUCH_BUCKET",
      `bucket ${bucketUri(uri)} does not exist: create it with 'skyplane mb ${bucketUri(uri)} --region ${local ? "local:<region>" : "<region>"}'`,
    );
  }
  let reported: string | undefined;
  try {
    reported = await store.region();
  } catch (err) {
    throw asUserError(err);
  }
  // A cloud bucket's region, served by the catalogue region its gateways go to (a GCP region's zone).
  const region = reported === undefined || local ? reported : gatewayRegionFor(reported);
  if (region) return { region, exists };
  throw local
    ? new UserError(
        "NO_REGION",
        `bucket ${bucketUri(uri)} records no region: create it again with 'skyplane mb'`,
      )
    : new UserError(
        "NO_REGION",
        uri.scheme === "azure"
          ? `cannot tell the region of ${bucketUri(uri)}: the blob API does not say where a storage account is; set SKYPLANE_AZURE_REGION to its location (e.g. westeurope)`
          : `${bucketUri(uri)} is in a location skyplane has no gateways for: copy through a supported region, or file an issue naming the location`,
      );
}

/** Destination keys the destination cannot hold, gathered as the listing streams. */
class KeyCheck {
  private readonly bad: string[] = [];
  private count = 0;
  constructor(
    private readonly dst: ObjectStore,
    private readonly dstUri: StoreUri,
  ) {}

  check(pair: ObjectPair): void {
    if (!this.dst.checkKey) return;
    try {
      this.dst.checkKey(pair.dstKey);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      if (this.bad.length < 3) this.bad.push(JSON.stringify(pair.dstKey));
      this.count++;
    }
  }

  /** Refuses the keys found (`../x`, `/abs`, `.skyplane/…` in a local bucket or folder), naming the first. */
  done(): void {
    if (this.count === 0) return;
    const more = this.count > 3 ? ` and ${this.count - 3} more` : "";
    throw new UserError(
      "INVALID_KEY",
      `invalid destination key ${this.bad.join(", ")}${more} in ${bucketUri(this.dstUri)}: ` +
        `keys there cannot start with '/' or '.skyplane/', nor have '.', '..' or empty segments; ` +
        "choose a destination key without them",
    );
  }
}

/** Files of a source folder that cannot be read, checked one by one as the listing streams. */
class ReadableCheck {
  private readonly denied: string[] = [];
  private count = 0;
  constructor(private readonly folder: string) {}

  /** access(2) itself, a few microseconds: through the threadpool each check cost ten times that. */
  add(key: string): void {
    try {
      fs.accessSync(path.join(this.folder, key), fs.constants.R_OK);
    } catch (err) {
      if (this.denied.length < 3)
        this.denied.push(`${path.join(this.folder, key)} (${(err as NodeJS.ErrnoException).code})`);
      this.count++;
    }
  }

  /** Fails, naming them, when files cannot be read: better now than after provisioning. */
  done(): void {
    if (this.count === 0) return;
    const more = this.count > 3 ? ` and ${this.count - 3} more` : "";
    throw new UserError(
      "UNREADABLE",
      `cannot read ${this.denied.join(", ")}${more}: fix their permissions, or copy a folder without them`,
    );
  }
}

/** The objects a copy names, with their destination keys, in key order: one source listing. */
async function listCopy(
  req: { src: string; recursive: boolean },
  src: ObjectStore,
  srcUri: StoreUri,
  dstUri: StoreUri,
  add: (pair: ObjectPair) => Promise<void>,
): Promise<void> {
  if (!req.recursive) {
    const info = srcUri.key ? await src.head(srcUri.key) : undefined;
    if (!info) {
      const hint = (await src.list({ prefix: srcUri.key, maxKeys: 1 })).objects.length
        ? "; it is a prefix: add -r (recursive) to copy what is under it"
        : "";
      throw new UserError("NO_SUCH_OBJECT", `no object ${req.src}${hint}`);
    }
    const dstKey = destinationKey(info.key, "", dstUri.key, false);
    await add({ srcKey: info.key, dstKey, size: info.size, mode: info.mode });
    return;
  }
  const prefix = srcUri.key;
  const base = prefix === "" || prefix.endsWith("/") ? prefix : prefix + "/";
  let n = 0;
  for await (const o of listAll(src, prefix)) {
    if (o.key !== prefix && !o.key.startsWith(base)) continue; // "data" must not match "database/x"
    const dstKey = destinationKey(o.key, prefix, dstUri.key, true);
    await add({ srcKey: o.key, dstKey, size: o.size, mode: o.mode });
    n++;
  }
  if (n === 0) throw new UserError("NOTHING_TO_COPY", `no objects under ${req.src}`);
}

/** Symbolic links under the source prefix that its listing left out. */
async function skippedLinks(src: ObjectStore, srcUri: StoreUri): Promise<number> {
  const base = srcUri.key === "" || srcUri.key.endsWith("/") ? srcUri.key : srcUri.key + "/";
  const links = (await src.skippedLinks?.(srcUri.key)) ?? [];
  return links.filter((k) => k === srcUri.key || k.startsWith(base)).length;
}

/**
 * Plans a copy or sync, once: parses both URIs, refuses `delete` with an overlapping source and
 * destination (and warns of an overlap otherwise), resolves both regions, plans (or checks) the
 * route, lists the source once (and for a sync the destination, merged with it) while checking every
 * destination key and object size against the destination store, and estimates time and cost.
 * Nothing is provisioned, and nothing written.
 */
export async function planTransfer(req: PlanRequest, ctx: PlanContext): Promise<TransferPlan> {
  const kind = req.sync ? "sync" : "copy";
  const recursive = kind === "sync" || (req.recursive ?? false);
  const del = kind === "sync" && (req.delete ?? false);
  const followSymlinks = req.followSymlinks ?? false;
  const srcUri = parseUri(req.src);
  const dstUri = singleFileDestination(parseUri(req.dst), req.dst, recursive);
  const overlap = checkOverlap(
    { src: req.src, dst: req.dst, delete: del },
    srcUri,
    dstUri,
    ctx.stores,
  );
  const open = ctx.open ?? openStore;
  let src: ObjectStore;
  let dst: ObjectStore;
  try {
    src = open(srcUri, { ...ctx.stores, followSymlinks });
    dst = open(dstUri, ctx.stores);
  } catch (err) {
    throw asUserError(err);
  }
  // Both checked at once; when both fail, the source's error is the one reported, whichever came first,
  // so the CLI and the library always name the same bucket.
  const [found, made] = await Promise.allSettled([
    locate(srcUri, src, "source"),
    locate(dstUri, dst, "destination"),
  ]);
  if (found.status === "rejected") throw found.reason;
  if (made.status === "rejected") throw made.reason;
  const [from, to] = [found.value, made.value];
  const topology = ctx.route(
    from.region,
    to.region,
    runsOnClient(
      { scheme: srcUri.scheme, region: from.region },
      { scheme: dstUri.scheme, region: to.region },
    ),
  );
  // The route's ends are the regions whose gateways touch the buckets (one destination: no multicast).
  const [srcVia, dstVia] = [topology.route.src, topology.route.dsts[0]];
  const builder = new ListingBuilder({
    spoolDir: listingDir(ctx.stores.home),
    memoryObjects: ctx.memoryObjects,
    chunksOf: (size) => chunkCount(size, ctx.chunking, dst.features),
  });
  const keys = new KeyCheck(dst, dstUri);
  const dstBucket = bucketUri(dstUri);
  const stream = req.stream === true && kind === "copy";
  let abandoned = false; // the plan was disposed while its listing ran
  const accept = (pair: ObjectPair) => {
    if (abandoned)
      throw new SkyplaneError("INTERRUPTED", "the plan was disposed before its listing ended");
    keys.check(pair);
    if (stream) keys.done(); // a streamed listing stops at the first key, before it goes out
    // Refused before anything is provisioned: the destination could never hold it.
    mustFit([pair], dst.features, dstBucket);
    builder.add(pair);
  };
  let sync: SyncDiff | undefined;
  let links = 0;
  const list = async () => {
    try {
      if (kind === "sync") {
        sync = await diffSync(
          { store: src, prefix: srcUri.key },
          { store: dst, prefix: dstUri.key, exists: to.exists },
          accept,
        );
      } else {
        const readable = srcUri.scheme === "file" ? new ReadableCheck(srcUri.bucket) : undefined;
        await listCopy({ src: req.src, recursive }, src, srcUri, dstUri, async (pair) => {
          accept(pair);
          readable?.add(pair.srcKey);
        });
        readable?.done();
      }
      keys.done();
      // Counted once the listing has proved the source exists.
      if (recursive) links = await skippedLinks(src, srcUri);
    } catch (err) {
      if (err instanceof StoreError && isUserError(err))
        throw new UserError(err.code, `${bucketUri(srcUri)}: ${err.message}`, { cause: err });
      throw err;
    }
  };
  let listing: Listing;
  let listed: Promise<unknown> = Promise.resolve();
  if (stream) {
    listing = builder.listing();
    listed = list().then(
      () => builder.finish(),
      (err: unknown) => builder.fail(err),
    );
  } else {
    try {
      await list();
      listing = builder.finish();
    } catch (err) {
      builder.discard();
      throw err;
    }
  }
  const e = topology.estimate;
  const gbps = e.throughputGbps;
  return {
    kind,
    src: {
      uri: req.src,
      parsed: srcUri,
      region: from.region,
      gateways: srcVia,
      exists: from.exists,
    },
    dst: { uri: req.dst, parsed: dstUri, region: to.region, gateways: dstVia, exists: to.exists },
    recursive,
    followSymlinks,
    delete: del,
    topology,
    stackName: routeStackName(topology.route.src, topology.route.dsts),
    buckets: bucketsOf(srcUri, dstUri),
    chunking: {
      multipartThresholdBytes: ctx.chunking.multipartThresholdBytes,
      partSizeBytes: ctx.chunking.partSizeBytes,
    },
    listing,
    ...(sync ? { sync } : {}),
    // Getters: a streamed listing's totals grow until it is complete.
    estimate: {
      get objects() {
        return listing.objects;
      },
      get bytes() {
        return listing.bytes;
      },
      get chunks() {
        return listing.chunks;
      },
      throughputGbps: gbps,
      costPerGB: e.costPerGB,
      get seconds() {
        return gbps > 0 ? (listing.bytes * 8) / (gbps * 1e9) : 0;
      },
      get costUSD() {
        return (e.costPerGB.total * listing.bytes) / 1e9;
      },
    },
    get skippedLinks() {
      return links;
    },
    warnings: overlap ? [overlap] : [],
    [Symbol.asyncDispose]: async () => {
      abandoned = true;
      await listed;
      await listing[Symbol.asyncDispose]();
    },
  };
}

/**
 * What a run on `topology` cost, estimated from what it did: egress for the bytes moved on every hop,
 * and the gateways' time for the seconds it ran (the planner's price per GB, taken apart).
 */
export function actualCostUSD(topology: Topology, bytes: number, seconds: number): number {
  const { costPerGB, throughputGbps } = topology.estimate;
  // costPerGB.vm is the gateways' USD per second over the GB per second the plan expects.
  const vmPerSecond = (costPerGB.vm * throughputGbps) / 8;
  return (costPerGB.egress * bytes) / 1e9 + vmPerSecond * seconds;
}

/** A plan as JSON, what `cp --dry-run --json` and `skyplane plan SRC DST --json` print. */
export async function planJson(plan: TransferPlan): Promise<Record<string, unknown>> {
  const end = (e: PlanEnd) => ({ uri: e.uri, region: e.region, gateways: e.gateways });
  return {
    kind: plan.kind,
    src: end(plan.src),
    dst: end(plan.dst),
    recursive: plan.recursive,
    stack: plan.stackName,
    buckets: plan.buckets,
    objects: plan.estimate.objects,
    bytes: plan.estimate.bytes,
    estimate: plan.estimate,
    skippedLinks: plan.skippedLinks,
    warnings: plan.warnings,
    ...(plan.sync
      ? { sync: { copy: await plan.listing.all(), extra: plan.sync.extra, same: plan.sync.same } }
      : {}),
    topology: plan.topology,
  };
}
