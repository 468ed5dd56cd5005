import * as fs from "node:fs";
import * as path from "node:path";
import pLimit from "p-limit";
import { PlanError, planDirect } from "../planner/direct";
import { buildModel, PlannerModel } from "../planner/model";
import { NetworkProfile, profileModelOptions } from "../planner/profile";
import { knownRegion, UnknownRegionError } from "../planner/regions";
import { CLIENT_REGION, parseRegion } from "../common/regions";
import type { Topology } from "../planner/topology";
import type { CloudSettings } from "../planner/cloud-settings";
import { CLOUD_TTL_MINUTES, LOCAL_TTL_MINUTES } from "../common/ttl";
import { bucketUri, openStore, StoreError } from "../stores";
import { isUserError, UserError } from "../errors";
import {
  AWSConfig,
  AzureConfig,
  credentialEnv,
  DEFAULT_TRANSFER_CONFIG,
  GCPConfig,
  TransferConfig,
} from "./config";
import { transferTtlMinutes } from "./cloud";
import { Dataplane, DataplaneOptions, JobResult, parseUri, regionOf } from "./dataplane";
import { Engine } from "./engine";
import { homeLayout, skyplaneHome } from "../common/paths";
import { TransferProgress } from "./progress";
import { planSync, SyncPlan } from "./sync";
import { mustFit } from "./chunker";
import { checkOverlap } from "./overlap";
import { checkDestinationKeys, InterruptedError, listObjects } from "./transfer";
import { VerifyReport, verifyStores } from "./verify";

/** Options of a client. Constructing one does no I/O. */
export interface SkyplaneClientOptions {
  /** AWS credentials; default the SDK's credential chain. */
  readonly aws?: AWSConfig;
  /** GCP credentials; default Application Default Credentials. */
  readonly gcp?: GCPConfig;
  /** Azure credentials; default the environment. */
  readonly azure?: AzureConfig;
  /** Where logs go; default `<home>/logs`. */
  readonly logDir?: string;
  /** The skyplane home; default $SKYPLANE_HOME or ~/.skyplane. */
  readonly home?: string;
  /** How transfers move data. */
  readonly transferConfig?: Partial<TransferConfig>;
  /** The local cloud as an emulated WAN (namespaces and shaped links, as root); default loopback. */
  readonly network?: NetworkProfile;
  /**
   * What gateways on AWS, GCP and Azure need: gateway images, project or subscription, the client's
   * address (default $SKYPLANE_CLIENT_CIDR), TTL. A route's stack keeps them; see stacks/README.md.
   */
  readonly cloud?: Partial<CloudSettings>;
}

/** What `copy` and `sync` take. */
export interface CopyRequest {
  /** Source URI or path. */
  readonly src: string;
  /** Destination URI or path. */
  readonly dst: string;
  /** Copy everything under the source prefix. */
  readonly recursive?: boolean;
  /** Gateways per region. Default 1. */
  readonly nVms?: number;
  /** Copy what symbolic links in a source folder point to; default skip them (`CopyPlan.skippedLinks`). */
  readonly followSymlinks?: boolean;
  /** Called with every transfer event (progress bars). */
  readonly onProgress?: (p: TransferProgress) => void;
  /**
   * Aborting it stops the transfer: dispatch ends, its multipart uploads are aborted, the gateways are
   * released (torn down unless another job shares them), and the call rejects with InterruptedError.
   */
  readonly signal?: AbortSignal;
  /** Seconds the gateways outlive a silent (crashed) client; default DEFAULT_LEASE_SECONDS. */
  readonly leaseSeconds?: number;
}

/** A planned copy: what would move, and through which topology. */
export interface CopyPlan {
  /** The dataplane's plan. */
  readonly topology: Topology;
  /** Objects that would move. */
  readonly objects: number;
  /** Bytes that would move. */
  readonly bytes: number;
  /** For a sync: what it would copy and delete. */
  readonly sync?: SyncPlan;
  /** Symbolic links in the source that are not copied (without `followSymlinks`, or in a cycle). */
  readonly skippedLinks: number;
  /** What the user should know before going ahead (a destination that overlaps the source). */
  readonly warnings: string[];
}

/** The entry point of the library: copies, syncs and dataplanes. */
export class SkyplaneClient {
  /** The skyplane home. */
  readonly home: string;
  /** Where logs go. */
  readonly logDir: string;
  /** How transfers move data. */
  readonly transferConfig: TransferConfig;
  /** The environment stores and gateways see: the process's, with the client's credentials over it. */
  readonly env: NodeJS.ProcessEnv;
  private engine?: Promise<Engine>;

  constructor(readonly options: SkyplaneClientOptions = {}) {
    this.home = path.resolve(options.home ?? skyplaneHome());
    this.logDir = options.logDir ?? homeLayout(this.home).logs;
    this.transferConfig = { ...DEFAULT_TRANSFER_CONFIG, ...options.transferConfig };
    this.env = { ...process.env, ...credentialEnv(options) };
  }

  /**
   * A dataplane between two regions, e.g. `dataplane("local", "east", "local", "west", { nVms: 1 })`.
   * Nothing is provisioned until `provision()`.
   */
  dataplane(
    srcCloud: string,
    srcRegion: string,
    dstCloud: string,
    dstRegion: string,
    opts: DataplaneOptions & { nConnections?: number } = {},
  ): Dataplane {
    let topology: Topology;
    try {
      topology = planDirect(
        {
          src: `${srcCloud}:${srcRegion}`,
          dsts: [`${dstCloud}:${dstRegion}`],
          nVms: opts.nVms,
          connections: opts.nConnections ?? this.transferConfig.connectionsPerGateway,
          compress: this.transferConfig.compress,
          encrypt: this.transferConfig.encrypt,
        },
        this.model(),
      );
    } catch (err) {
      if (err instanceof UnknownRegionError || err instanceof PlanError)
        throw new UserError("BAD_PLAN", err.message, { cause: err });
      throw err;
    }
    return this.dataplaneFor(topology, opts);
  }

  /** The planner's model: the local cloud's network profile when there is one, the defaults otherwise. */
  model(): PlannerModel {
    return buildModel(this.options.network ? profileModelOptions(this.options.network) : {});
  }

  /** A dataplane for a topology planned elsewhere (`skyplane plan`, `planOverlay`). */
  dataplaneFor(topology: Topology, opts: DataplaneOptions = {}): Dataplane {
    const local = topology.regions.filter((r) => parseRegion(r.region).provider === "local");
    if (local.length > 0 && local.length < topology.regions.length) {
      throw new UserError(
        "MIXED_ROUTE",
        `a route cannot mix the local cloud (${local.map((r) => r.region).join(", ")}) with AWS, GCP or Azure: ` +
          "copy between local buckets and folders on the local cloud, and between cloud buckets on the clouds",
      );
    }
    return new Dataplane(
      topology,
      {
        home: this.home,
        logDir: this.logDir,
        engine: () => this.openEngine(),
        transfer: this.transferConfig,
        network: this.options.network,
        cloud: this.options.cloud,
        env: this.env,
      },
      opts,
    );
  }

  /**
   * Plans a copy without provisioning anything: checks the URIs, buckets, source objects and
   * destination keys; refuses `delete` with overlapping source and destination.
   */
  async planCopy(req: CopyRequest & { sync?: boolean; delete?: boolean }): Promise<CopyPlan> {
    const stores = { home: this.home, env: this.env };
    const srcUri = parseUri(req.src);
    const dstUri = parseUri(req.dst);
    const overlap = checkOverlap(req, srcUri, dstUri, stores);
    const warnings = overlap ? [overlap] : [];
    const srcRegion = await regionOf(srcUri, stores);
    const dstRegion = dstUri.scheme === "file" ? CLIENT_REGION : await regionOf(dstUri, stores);
    const [s, d] = [parseRegion(srcRegion), parseRegion(dstRegion)];
    const topology = this.dataplane(s.provider, s.name, d.provider, d.name, {
      nVms: req.nVms,
    }).topology;
    const src = openStore(srcUri, { ...stores, followSymlinks: req.followSymlinks });
    const dst = openStore(dstUri, stores);
    try {
      // Counted once the listing has proved the source exists.
      const skipped = async () => {
        const base = srcUri.key === "" || srcUri.key.endsWith("/") ? srcUri.key : srcUri.key + "/";
        const links = (await src.skippedLinks?.(srcUri.key)) ?? [];
        return links.filter((k) => k === srcUri.key || k.startsWith(base)).length;
      };
      if (req.sync) {
        const sync = await planSync(src, srcUri, dst, dstUri);
        checkDestinationKeys(dst, dstUri, sync.copy);
        // Refused before anything is provisioned: the destination could never hold it.
        mustFit(sync.copy, dst.features, bucketUri(dstUri));
        const skippedLinks = await skipped();
        return {
          topology,
          objects: sync.copy.length,
          bytes: sync.copy.reduce((n, o) => n + o.size, 0),
          sync,
          skippedLinks,
          warnings,
        };
      }
      const objects = await listObjects(
        { src: req.src, dst: req.dst, recursive: req.recursive ?? false },
        src,
        srcUri,
        dstUri,
      );
      checkDestinationKeys(dst, dstUri, objects);
      mustFit(objects, dst.features, bucketUri(dstUri));
      const skippedLinks = req.recursive ? await skipped() : 0;
      if (srcUri.scheme === "file")
        await mustBeReadable(
          srcUri.bucket,
          objects.map((o) => o.srcKey),
        );
      return {
        topology,
        objects: objects.length,
        bytes: objects.reduce((n, o) => n + o.size, 0),
        skippedLinks,
        warnings,
      };
    } catch (err) {
      if (err instanceof StoreError && isUserError(err))
        throw new UserError(err.code, `${bucketUri(srcUri)}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /**
   * Compares `src` with `dst` (`rclone check`): keys, sizes and the stores' own hashes, downloading
   * only where the two stores share no algorithm. Provisions nothing.
   */
  async verify(req: { src: string; dst: string; recursive?: boolean }): Promise<VerifyReport> {
    const stores = { home: this.home, env: this.env };
    const srcUri = parseUri(req.src);
    const dstUri = parseUri(req.dst);
    try {
      return await verifyStores(
        openStore(srcUri, stores),
        srcUri,
        openStore(dstUri, stores),
        dstUri,
        req.recursive ?? false,
      );
    } catch (err) {
      if (err instanceof StoreError && isUserError(err))
        throw new UserError(err.code, err.message, { cause: err });
      throw err;
    }
  }

  /** Copies `src` to `dst`: provisions the route's gateways, transfers, verifies, and always deprovisions. */
  async copy(req: CopyRequest): Promise<JobResult> {
    return this.runOnce(req, (dp) =>
      dp.queueCopy(req.src, req.dst, {
        recursive: req.recursive ?? false,
        followSymlinks: req.followSymlinks,
      }),
    );
  }

  /** Makes `dst` match `src`: copies what is missing or different; with `delete`, removes extras after. */
  async sync(req: CopyRequest & { delete?: boolean }): Promise<JobResult> {
    return this.runOnce(req, (dp) =>
      dp.queueSync(req.src, req.dst, {
        delete: req.delete ?? false,
        followSymlinks: req.followSymlinks,
      }),
    );
  }

  private async runOnce(
    req: CopyRequest & { delete?: boolean },
    queue: (dp: Dataplane) => void,
  ): Promise<JobResult> {
    const plan = await this.planCopy(req);
    const { src, dsts } = plan.topology.route;
    const dst = dsts[0];
    const [s, d] = [parseRegion(src), parseRegion(dst)];
    const local = s.provider === "local";
    const dp = this.dataplane(s.provider, s.name, d.provider, d.name, {
      nVms: req.nVms,
      leaseSeconds: req.leaseSeconds,
      // Long enough for this transfer, so that the gateways never end themselves mid-copy.
      ttlMinutes: transferTtlMinutes(
        plan.bytes,
        plan.topology.estimate.throughputGbps,
        local ? LOCAL_TTL_MINUTES : CLOUD_TTL_MINUTES,
      ),
    });
    // Queued before provisioning: a cloud's gateways are granted exactly the buckets of the jobs.
    queue(dp);
    try {
      return await dp.autoDeprovision(async () => {
        await dp.provision();
        if (req.signal?.aborted) throw new InterruptedError();
        const tracker = dp.runAsync({ signal: req.signal });
        if (req.onProgress) tracker.jobs.forEach((p) => req.onProgress?.(p));
        return (await tracker.join())[0];
      });
    } catch (err) {
      // A Ctrl-C on a terminal reaches the engine too, and cancels an update under way.
      if (req.signal?.aborted && !(err instanceof InterruptedError)) throw new InterruptedError();
      throw err;
    }
  }

  private openEngine(): Promise<Engine> {
    this.engine ??= Engine.open({ home: this.home, credentials: credentialEnv(this.options) });
    return this.engine;
  }
}

/** Fails, naming them, when files of a folder cannot be read: better now than after provisioning. */
async function mustBeReadable(folder: string, keys: string[]): Promise<void> {
  const limit = pLimit(32);
  const denied = (
    await Promise.all(
      keys.map((k) =>
        limit(() =>
          fs.promises.access(path.join(folder, k), fs.constants.R_OK).then(
            () => undefined,
            (err: NodeJS.ErrnoException) => `${path.join(folder, k)} (${err.code})`,
          ),
        ),
      ),
    )
  ).filter((d): d is string => d !== undefined);
  if (denied.length > 0) {
    const more = denied.length > 3 ? ` and ${denied.length - 3} more` : "";
    throw new UserError(
      "UNREADABLE",
      `cannot read ${denied.slice(0, 3).join(", ")}${more}: fix their permissions, or copy a folder without them`,
    );
  }
}

/** Checks a region id, reporting an unknown one as a UserError that lists the known ones. */
export function checkRegion(id: string): string {
  try {
    return knownRegion(id).id;
  } catch (err) {
    throw new UserError("UNKNOWN_REGION", (err as Error).message, { cause: err });
  }
}
