import * as crypto from "node:crypto";
import * as fs from "node:fs";
import type { Stack } from "@pulumi/pulumi/automation";
import type { CloudSettings } from "../components/cloud-settings";
import type { ProvisionedGateway } from "../components/local";
import program from "../index";
import { CLIENT_REGION } from "../planner/regions";
import { routeStackName, Topology } from "../planner/topology";
import { bucketUri, openStore, parseStoreUri, StoreContext, storeEnv, StoreUri } from "../stores";
import { SkyplaneError, UserError } from "../errors";
import type { NetworkProfile } from "../planner/profile";
import { emulatedNetwork, LOCAL_TTL_MINUTES } from "../components/local";
import {
  CLOUD_TTL_MINUTES,
  dataplaneTtlMinutes,
  requireProviderPlugins,
  resolveCloudSettings,
} from "./cloud";
import { TransferConfig } from "./config";
import { Engine, policyPackDir } from "./engine";
import { GatewayClient } from "./gateway-client";
import { TransferProgress } from "./progress";
import { planSync } from "./sync";
import { Tracker } from "./tracker";
import { checkOverlap } from "./overlap";
import { asUserError, runTransfer, TransferRequest, TransferResult } from "./transfer";
import { cleanupDestinations, recordDestination } from "./worksites";

/** A queued copy or sync. */
type Job = (
  | { readonly kind: "copy"; readonly recursive: boolean }
  | { readonly kind: "sync"; readonly delete: boolean }
) & { readonly src: string; readonly dst: string; readonly followSymlinks: boolean };

/** The result of one job; a sync also says what it deleted. */
export interface JobResult extends TransferResult {
  /** Destination objects deleted by a sync with `delete`. */
  readonly deleted?: number;
}

/** Options of a dataplane. */
export interface DataplaneOptions {
  /** Gateways per region. Default 1. */
  readonly nVms?: number;
  /**
   * Keep the gateways up this many seconds after provisioning, for later runs on the same route; they
   * exit on their own after it, and `autoDeprovision` leaves the stack up. Default 0: torn down.
   */
  readonly keepWarmSeconds?: number;
  /**
   * Minutes after which each gateway ends itself, even with no client left to stop it. Default 720 on
   * the local cloud, 120 on the clouds; `copy()` and `sync()` size it from the transfer.
   */
  readonly ttlMinutes?: number;
}

/** Where a dataplane's state and engine live. */
export interface DataplaneContext {
  /** The skyplane home. */
  readonly home: string;
  /** Where gateway logs go. */
  readonly logDir: string;
  /** Opens the engine (lazily, on first provision). */
  readonly engine: () => Promise<Engine>;
  /** How transfers move data. */
  readonly transfer: TransferConfig;
  /** The local cloud as an emulated WAN, if any. */
  readonly network?: NetworkProfile;
  /** What gateways on AWS, GCP and Azure need (merged over the stack's own `skyplane:cloud`). */
  readonly cloud?: Partial<CloudSettings>;
  /** The environment stores and gateways see (credentials, endpoints); default the process's. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Parses a URI, reporting a malformed one as a UserError. */
export function parseUri(uri: string): StoreUri {
  try {
    return parseStoreUri(uri);
  } catch (err) {
    throw asUserError(err);
  }
}

/** The region a URI's bucket lives in: the bucket's record, or the client's region for folders. */
export async function regionOf(uri: StoreUri, stores: StoreContext): Promise<string> {
  if (uri.scheme === "file") return CLIENT_REGION;
  let store;
  let exists: boolean;
  try {
    store = openStore(uri, stores);
    exists = await store.exists(); // also proves the credentials, before anything is provisioned
  } catch (err) {
    throw asUserError(err);
  }
  const local = uri.scheme === "local";
  if (!exists) {
    throw new UserError(
      "NO_SUCH_BUCKET",
      `bucket ${bucketUri(uri)} does not exist: create it with 'skyplane mb ${bucketUri(uri)} --region ${local ? "local:<region>" : "<region>"}'`,
    );
  }
  const region = await store.region();
  if (region) return region;
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

/**
 * The gateways of one route, provisioned as that route's Pulumi stack. Queue jobs, provision, run,
 * and always deprovision (`await using _ = dp.autoDeprovision()`).
 */
export class Dataplane {
  /** The stack that holds this route's gateways. */
  readonly stackName: string;
  private readonly jobs: Job[] = [];
  private gateways?: ProvisionedGateway[];
  private token?: string;
  private stack?: Stack;

  /** @internal Built by `SkyplaneClient.dataplane()`. */
  constructor(
    /** The planned topology. */
    readonly topology: Topology,
    private readonly ctx: DataplaneContext,
    private readonly opts: DataplaneOptions = {},
  ) {
    this.stackName = routeStackName(topology.route.src, topology.route.dsts);
  }

  /**
   * How the local cloud's network behaves: "shaped" (the profile emulated with namespaces and tbf),
   * "unshaped" (a profile was given, but shaping needs root: loopback instead), or "loopback".
   */
  get network(): "shaped" | "unshaped" | "loopback" {
    if (!this.ctx.network) return "loopback";
    return emulatedNetwork(this.ctx.network) ? "shaped" : "unshaped";
  }

  /** True once `provision()` has succeeded and `deprovision()` has not run since. */
  get provisioned(): boolean {
    return this.gateways !== undefined;
  }

  /**
   * Brings the route's stack up (`up` with refresh): the gateways start, or an up-to-date stack is
   * reused as it is. Its topology, token and key are the stack's config, so `pulumi up --stack <route>`
   * by hand builds the same thing.
   */
  async provision(opts: { onOutput?: (line: string) => void } = {}): Promise<void> {
    const engine = await this.ctx.engine();
    const stack = await engine.stack(this.stackName, program);
    this.stack = stack;
    const config = await stack.getAllConfig();
    // Reuse the stack's secrets: new ones would change every gateway and defeat reuse.
    const token = config["skyplane:token"]?.value || crypto.randomBytes(32).toString("base64url");
    const key = config["skyplane:key"]?.value || crypto.randomBytes(32).toString("base64");
    const settings: Record<string, { value: string; secret?: boolean }> = {
      "skyplane:topology": { value: JSON.stringify(this.topology) },
      "skyplane:token": { value: token, secret: true },
      "skyplane:key": { value: key, secret: true },
      "skyplane:logDir": { value: this.ctx.logDir },
      // Endpoints and credentials of cloud stores, for the gateways: a secret, like the token.
      "skyplane:storeEnv": { value: JSON.stringify(storeEnv(this.ctx.env)), secret: true },
    };
    const warm = this.opts.keepWarmSeconds ?? 0;
    const expireAt = Number(config["skyplane:expireAt"]?.value);
    // A still-valid expiry is kept, so that a warm stack is reused as it is rather than restarted.
    if (warm > 0 && !(expireAt > Date.now() + Math.min(60_000, (warm * 1000) / 2))) {
      settings["skyplane:expireAt"] = { value: String(Date.now() + warm * 1000) };
    } else if (warm === 0 && config["skyplane:expireAt"]) {
      await stack.removeConfig("skyplane:expireAt");
    }
    const onClouds = this.topology.gateways.some((g) => g.provider !== "local");
    const ttl = dataplaneTtlMinutes(this.opts, onClouds ? CLOUD_TTL_MINUTES : LOCAL_TTL_MINUTES);
    if (ttl !== undefined) settings["skyplane:ttlMinutes"] = { value: String(ttl) };
    else if (config["skyplane:ttlMinutes"]) await stack.removeConfig("skyplane:ttlMinutes");
    if (this.ctx.network)
      settings["skyplane:network"] = { value: JSON.stringify(this.ctx.network) };
    else if (config["skyplane:network"]) await stack.removeConfig("skyplane:network");
    if (onClouds) {
      // Everything a cloud needs is checked here, before anything is created, each gap with its fix.
      const cloud = resolveCloudSettings(this.topology, this.stackName, {
        stack: config["skyplane:cloud"] ? JSON.parse(config["skyplane:cloud"].value) : undefined,
        env: this.ctx.env,
        client: ttl !== undefined ? { ...this.ctx.cloud, ttlMinutes: ttl } : this.ctx.cloud,
        jobs: this.jobs,
        now: Date.now(),
      });
      await requireProviderPlugins(this.topology, () => stack.workspace.listPlugins(), {
        pulumiHome: engine.home.pulumiHome,
        cli: engine.cli,
      });
      settings["skyplane:cloud"] = { value: JSON.stringify(cloud) };
    }
    await stack.setAllConfig(settings);
    let up;
    try {
      // The guardrails (policy/) are enforced on every provision: a violation stops it before anything starts.
      up = await stack.up({
        refresh: true,
        color: "never",
        onOutput: opts.onOutput,
        policyPacks: [policyPackDir()],
      });
    } catch (err) {
      throw new SkyplaneError(
        "PROVISION_FAILED",
        `provisioning stack ${this.stackName} failed: ${(err as Error).message.split("\n").slice(-12).join("\n")}\n` +
          `Gateway logs are in ${this.ctx.logDir}/${this.stackName}; 'skyplane deprovision -y ${this.stackName}' removes what was created.`,
        { cause: err },
      );
    }
    this.gateways = up.outputs.gateways?.value as ProvisionedGateway[];
    this.token = token;
    await Promise.all(this.clients(this.gateways).map((c) => c.status()));
  }

  /** Destroys the route's stack: every gateway stops, and the stack is left empty. */
  async deprovision(opts: { onOutput?: (line: string) => void } = {}): Promise<void> {
    const stack = this.stack ?? (await (await this.ctx.engine()).stack(this.stackName, program));
    await stack.destroy({ color: "never", onOutput: opts.onOutput });
    this.gateways = undefined;
    // The gateways are gone: work files they left in the destinations are orphans now.
    await cleanupDestinations({ home: this.ctx.home, env: this.ctx.env }, this.stackName);
  }

  /**
   * Deprovisions when the scope ends, even on error: `await using _ = dp.autoDeprovision()`, or
   * `await dp.autoDeprovision(async (dp) => ...)`. With `keepWarmSeconds`, the stack is left up and
   * its gateways exit on their own at the TTL.
   */
  autoDeprovision(): AsyncDisposable;
  autoDeprovision<T>(fn: (dp: Dataplane) => Promise<T>): Promise<T>;
  autoDeprovision<T>(fn?: (dp: Dataplane) => Promise<T>): AsyncDisposable | Promise<T> {
    const release = async () => {
      if ((this.opts.keepWarmSeconds ?? 0) > 0) return;
      if (this.stack || this.provisioned) await this.deprovision();
    };
    if (!fn) return { [Symbol.asyncDispose]: release };
    return (async () => {
      try {
        return await fn(this);
      } finally {
        await release();
      }
    })();
  }

  /** Queues a copy of `src` to `dst` (a prefix with `recursive`). */
  queueCopy(
    src: string,
    dst: string,
    opts: { recursive?: boolean; followSymlinks?: boolean } = {},
  ): void {
    parseUri(src);
    parseUri(dst);
    this.jobs.push({
      kind: "copy",
      src,
      dst,
      recursive: opts.recursive ?? false,
      followSymlinks: opts.followSymlinks ?? false,
    });
  }

  /**
   * Queues a sync: copies what is missing or different; with `delete`, then removes extras at `dst`
   * (refused when source and destination overlap).
   */
  queueSync(
    src: string,
    dst: string,
    opts: { delete?: boolean; followSymlinks?: boolean } = {},
  ): void {
    parseUri(src);
    parseUri(dst);
    this.jobs.push({
      kind: "sync",
      src,
      dst,
      delete: opts.delete ?? false,
      followSymlinks: opts.followSymlinks ?? false,
    });
  }

  /** Runs the queued jobs in the background; the tracker reports progress and the results. */
  runAsync(): Tracker {
    const jobs = this.jobs.splice(0);
    const progress = jobs.map(() => new TransferProgress());
    return new Tracker(progress, async () => {
      if (!this.gateways) throw new UserError("NOT_PROVISIONED", "call provision() before run()");
      const results: JobResult[] = [];
      for (const [i, job] of jobs.entries()) results.push(await this.runJob(job, progress[i]));
      return results;
    });
  }

  /** Runs the queued jobs and resolves to one result per job. */
  async run(): Promise<JobResult[]> {
    return this.runAsync().join();
  }

  private clients(gateways: ProvisionedGateway[]): GatewayClient[] {
    return gateways.map(
      (g) =>
        new GatewayClient(
          { gatewayId: g.id, host: g.host, controlPort: g.controlPort },
          this.token as string,
        ),
    );
  }

  private async runJob(job: Job, progress: TransferProgress): Promise<JobResult> {
    const stores = { home: this.ctx.home, env: this.ctx.env };
    const srcUri = parseUri(job.src);
    const dstUri = parseUri(job.dst);
    if (job.kind === "sync") checkOverlap(job, srcUri, dstUri, stores);
    const [srcRegion, dstRegion] = await Promise.all([
      regionOf(srcUri, stores),
      this.prepareDestination(dstUri, stores),
    ]);
    const { route } = this.topology;
    if (srcRegion !== route.src || !route.dsts.includes(dstRegion)) {
      throw new UserError(
        "WRONG_ROUTE",
        `${job.src} (${srcRegion}) → ${job.dst} (${dstRegion}) does not match this dataplane's route ${route.src} → ${route.dsts.join(", ")}`,
      );
    }
    const gateways = this.gateways as ProvisionedGateway[];
    const target = { sources: this.clients(gateways.filter((g) => g.source)), stores, dstRegion };
    const cfg = this.ctx.transfer;
    const opts = {
      multipartThresholdBytes: cfg.multipartThresholdBytes,
      partSizeBytes: cfg.partSizeBytes,
      verify: cfg.verify,
      batchSize: 1000,
      pollIntervalMs: 100,
    };
    // Before anything is written, so that deprovision finds the work files of a killed run.
    recordDestination(stores, this.stackName, dstUri);
    const followSymlinks = job.followSymlinks;
    if (job.kind === "copy") {
      const req: TransferRequest = {
        src: job.src,
        dst: job.dst,
        recursive: job.recursive,
        followSymlinks,
      };
      return runTransfer(req, target, opts, progress);
    }
    const src = openStore(srcUri, { ...stores, followSymlinks });
    const dst = openStore(dstUri, stores);
    const plan = await planSync(src, srcUri, dst, dstUri).catch((err) =>
      Promise.reject(asUserError(err)),
    );
    const copied =
      plan.copy.length > 0
        ? await runTransfer(
            { src: job.src, dst: job.dst, recursive: true, objects: plan.copy, followSymlinks },
            target,
            opts,
            progress,
          )
        : { objects: 0, bytes: 0, seconds: 0 };
    if (plan.copy.length === 0) progress.emit({ type: "done", objects: 0, bytes: 0, seconds: 0 });
    // Extras go only once every copy has succeeded (runTransfer threw otherwise).
    if (job.delete) for (const key of plan.extra) await dst.delete(key);
    return { ...copied, deleted: job.delete ? plan.extra.length : 0 };
  }

  /** The destination's region; a destination folder is created if it is missing. */
  private async prepareDestination(uri: StoreUri, stores: StoreContext): Promise<string> {
    if (uri.scheme === "file") {
      try {
        fs.mkdirSync(uri.bucket, { recursive: true });
        fs.accessSync(uri.bucket, fs.constants.W_OK);
      } catch (err) {
        throw new UserError(
          "UNWRITABLE",
          `cannot write to ${uri.bucket}: ${(err as Error).message}`,
        );
      }
    }
    return regionOf(uri, stores);
  }
}
