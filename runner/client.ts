import * as path from "node:path";
import { PlanError, planDirect } from "../planner/direct";
import { buildModel, PlannerModel } from "../planner/model";
import { emulatedNetwork, NetworkProfile, profileModelOptions } from "../planner/profile";
import { knownRegion, UnknownRegionError } from "../planner/regions";
import { CLIENT_REGION, parseRegion } from "../common/regions";
import type { Topology } from "../planner/topology";
import type { CloudSettings } from "../planner/cloud-settings";
import { CLOUD_TTL_MINUTES, LOCAL_TTL_MINUTES } from "../common/ttl";
import { ObjectStore, openStore, StoreContext, StoreError, StoreUri } from "../stores/core";
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
import { Dataplane, DataplaneOptions, JobResult } from "./dataplane";
import { Engine } from "./engine";
import { homeLayout, skyplaneHome } from "../common/paths";
import { parseUri, planTransfer, TransferPlan } from "./plan";
import { TransferProgress } from "./progress";
import { InterruptedError } from "./transfer";
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
  /**
   * Keep the route's gateways up this many seconds for later copies (a warm route, which they provision
   * in well under a second); default 0: torn down when the copy ends.
   */
  readonly keepWarmSeconds?: number;
}

/** A planned copy or sync (`TransferPlan`); the name earlier versions gave it. */
export type CopyPlan = TransferPlan;

/** How `run` reports and stops a transfer. */
export interface RunOptions {
  /** Called with every transfer event (progress bars). */
  readonly onProgress?: (p: TransferProgress) => void;
  /** Aborting it stops the transfer (see `CopyRequest.signal`). */
  readonly signal?: AbortSignal;
  /** Seconds the gateways outlive a silent (crashed) client; default DEFAULT_LEASE_SECONDS. */
  readonly leaseSeconds?: number;
  /** Keep the route's gateways up this many seconds for later runs (see `CopyRequest.keepWarmSeconds`). */
  readonly keepWarmSeconds?: number;
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
   * How the local cloud's network behaves for this client: "shaped" (its network profile emulated with
   * namespaces and shaped links), "unshaped" (a profile was given, but emulating it needs root: loopback
   * instead), or "loopback" (no profile).
   */
  get network(): "shaped" | "unshaped" | "loopback" {
    if (!this.options.network) return "loopback";
    return emulatedNetwork(this.options.network) ? "shaped" : "unshaped";
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
    const topology = this.planRoute(
      `${srcCloud}:${srcRegion}`,
      `${dstCloud}:${dstRegion}`,
      opts.nVms,
      opts.nConnections,
    );
    return this.dataplaneFor(topology, opts);
  }

  /** The direct topology from one region to another, with this client's wire settings. */
  private planRoute(src: string, dst: string, nVms?: number, connections?: number): Topology {
    let topology: Topology;
    try {
      topology = planDirect(
        {
          src,
          dsts: [dst],
          nVms,
          connections: connections ?? this.transferConfig.connectionsPerGateway,
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
    refuseMixedRoute(topology);
    return topology;
  }

  /** The planner's model: the local cloud's network profile when there is one, the defaults otherwise. */
  model(): PlannerModel {
    return buildModel(this.options.network ? profileModelOptions(this.options.network) : {});
  }

  /** A dataplane for a topology planned elsewhere (`skyplane plan`, `planOverlay`). */
  dataplaneFor(topology: Topology, opts: DataplaneOptions = {}): Dataplane {
    refuseMixedRoute(topology);
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
        open: (uri, ctx) => this.openStore(uri, ctx),
      },
      opts,
    );
  }

  /** Opens a store (the scheme registry's); every store the client and its dataplanes use comes from here. */
  protected openStore(uri: StoreUri, ctx: StoreContext): ObjectStore {
    return openStore(uri, ctx);
  }

  /**
   * Plans a copy or sync without provisioning anything (`TransferPlan`): checks the URIs and buckets,
   * resolves both regions, plans the route, lists the source once and checks every destination key;
   * refuses `delete` with overlapping source and destination. Run it with `run`; dispose it after.
   */
  async planCopy(
    req: CopyRequest & { sync?: boolean; delete?: boolean; stream?: boolean },
  ): Promise<TransferPlan> {
    return planTransfer(req, {
      stores: { home: this.home, env: this.env },
      open: (uri, ctx) => this.openStore(uri, ctx),
      chunking: this.transferConfig,
      route: (src, dst, onClient) =>
        onClient
          ? this.planRoute(CLIENT_REGION, CLIENT_REGION, req.nVms)
          : this.planRoute(src, dst, req.nVms),
    });
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
        this.openStore(srcUri, stores),
        srcUri,
        this.openStore(dstUri, stores),
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
    return this.planAndRun(req);
  }

  /** Makes `dst` match `src`: copies what is missing or different; with `delete`, removes extras after. */
  async sync(req: CopyRequest & { delete?: boolean }): Promise<JobResult> {
    return this.planAndRun({ ...req, sync: true });
  }

  private async planAndRun(req: CopyRequest & { sync?: boolean; delete?: boolean }) {
    // Nothing is shown before the copy: its transfer starts while the source is still being listed.
    const plan = await this.planCopy({ ...req, stream: true });
    try {
      return await this.run(plan, req);
    } finally {
      await plan[Symbol.asyncDispose]();
    }
  }

  /**
   * Runs a plan (`planCopy`) as it stands: provisions its route's gateways, granted its buckets,
   * transfers its listing, verifies, and always deprovisions. Nothing is resolved or listed again.
   */
  async run(plan: TransferPlan, opts: RunOptions = {}): Promise<JobResult> {
    const local = parseRegion(plan.topology.route.src).provider === "local";
    // A listing still under way (`stream`): what ends it before its first object is reported before
    // anything is provisioned; and a cloud's gateways, whose lifetime is sized from the bytes, wait
    // for all of it (the local cloud's outlive any transfer: see LOCAL_TTL_MINUTES).
    await (local ? plan.listing.ready() : plan.listing.whenComplete());
    const dp = this.dataplaneFor(plan.topology, {
      leaseSeconds: opts.leaseSeconds,
      keepWarmSeconds: opts.keepWarmSeconds,
      // Long enough for this transfer, so that the gateways never end themselves mid-copy.
      ttlMinutes: transferTtlMinutes(
        plan.estimate.bytes,
        plan.estimate.throughputGbps,
        local ? LOCAL_TTL_MINUTES : CLOUD_TTL_MINUTES,
      ),
    });
    // Queued before provisioning: a cloud's gateways are granted exactly the buckets of the jobs.
    dp.queuePlan(plan);
    const { signal } = opts;
    try {
      const result = await dp.autoDeprovision(async () => {
        const provision = await dp.provision();
        if (signal?.aborted) throw new InterruptedError();
        const tracker = dp.runAsync({ signal });
        if (opts.onProgress) tracker.jobs.forEach((p) => opts.onProgress?.(p));
        const job = (await tracker.join())[0];
        return { ...job, provision, ...(dp.warmUntil && { warmUntil: dp.warmUntil }) };
      });
      return { ...result, ...(dp.teardown && { teardown: dp.teardown }) };
    } catch (err) {
      // A Ctrl-C on a terminal reaches the engine too, and cancels an update under way.
      if (signal?.aborted && !(err instanceof InterruptedError)) throw new InterruptedError();
      throw err;
    }
  }

  private openEngine(): Promise<Engine> {
    this.engine ??= Engine.open({ home: this.home, credentials: credentialEnv(this.options) });
    return this.engine;
  }
}

/** Refuses a topology that mixes the local cloud with AWS, GCP or Azure. */
function refuseMixedRoute(topology: Topology): void {
  const local = topology.regions.filter((r) => parseRegion(r.region).provider === "local");
  if (local.length > 0 && local.length < topology.regions.length) {
    throw new UserError(
      "MIXED_ROUTE",
      `a route cannot mix the local cloud (${local.map((r) => r.region).join(", ")}) with AWS, GCP or Azure: ` +
        "copy between local buckets and folders on the local cloud, and between cloud buckets on the clouds",
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
