import * as fs from "node:fs";
import type { Stack } from "@pulumi/pulumi/automation";
import type { CloudSettings } from "../planner/cloud-settings";
import type { BucketGrants } from "../planner/program";
import { ProvisionedGateway, routeStackName, Topology } from "../planner/topology";
import { ObjectStore, openStore, StoreContext, storeEnv, StoreUri } from "../stores/core";
import { UserError } from "../errors";
import { emulatedNetwork, NetworkProfile } from "../planner/profile";
import { checkKeepWarm, DEFAULT_LEASE_SECONDS } from "../common/ttl";
import { CLIENT_REGION } from "../common/regions";
import { TransferConfig } from "./config";
import { Engine, EngineRun } from "./engine";
import { lockedError } from "./locks";
import { forgetDataplaneSecrets, stopStrayGateways } from "./stacks";
import { GatewayClient } from "./gateway-client";
import { describeHolders, Lease, RouteLeases, topologyDigest } from "./lease";
import { gatewayClient, probeGateways, upRoute } from "./provision";
import { ChildGateways, runsAsChildren } from "./children";
import {
  EngineReason,
  readRouteRecord,
  removeRouteRecord,
  storeEnvDigest,
  warmMisfit,
} from "./route-record";
import {
  actualCostUSD,
  bucketsOf,
  parseUri,
  PlanEnd,
  PlanEstimate,
  planTransfer,
  TransferPlan,
} from "./plan";
import { TransferProgress } from "./progress";
import { Tracker } from "./tracker";
import {
  DEFAULT_TRANSFER_OPTIONS,
  InterruptedError,
  runTransfer,
  TransferResult,
} from "./transfer";
import { cleanupDestinations, recordDestination } from "./worksites";

/** A queued copy or sync: planned when it runs, or already planned (`queuePlan`). */
type Job = {
  readonly kind: "copy" | "sync";
  readonly src: string;
  readonly dst: string;
  readonly recursive: boolean;
  readonly delete: boolean;
  readonly followSymlinks: boolean;
  readonly plan?: TransferPlan;
};

/** The result of one job: what moved, how it was verified, and what the route expected and cost. */
export interface JobResult extends TransferResult {
  /** Destination objects deleted by a sync with `delete`. */
  readonly deleted?: number;
  /** The stack that holds the route's gateways. */
  readonly stack: string;
  /** What the plan expected: the topology's throughput and price, and this job's time and cost at them. */
  readonly estimate: PlanEstimate;
  /**
   * USD this job cost, estimated from what it did: egress for the bytes moved on every hop, and the
   * gateways' time for the seconds the transfer ran (provisioning aside).
   */
  readonly costUSD: number;
  /** How the route's gateways were provisioned (`SkyplaneClient.copy`, `sync` and `run`). */
  readonly provision?: ProvisionReport;
  /** How they were torn down, unless kept warm (`SkyplaneClient.copy`, `sync` and `run`). */
  readonly teardown?: TeardownReport;
  /** When the route's gateways, kept warm, end on their own (ISO 8601); absent: torn down. */
  readonly warmUntil?: string;
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
  /**
   * Seconds a gateway waits for word from its client (the heartbeat this dataplane sends every few
   * seconds while it holds the gateways) before it stops on its own; a keep-warm gateway waits at
   * least until its warm period ends. Default 120.
   */
  readonly leaseSeconds?: number;
}

/** How `provision()` got a route's gateways, and what it cost. */
export interface ProvisionReport {
  /**
   * `warm`: a warm route's recorded gateways, as they are, without running the engine; `shared`: the
   * gateways another live job on the route runs; `engine`: an `up` of the route's stack; `children`:
   * a route on this machine alone, whose gateways run as this process's children (no stack).
   */
  readonly how: "warm" | "shared" | "engine" | "children";
  /** Why it ran the engine (`how` = engine), e.g. `not-warm`, `gateway-gone` (route-record.ts). */
  readonly reason?: EngineReason;
  /** Wall time, seconds. */
  readonly seconds: number;
  /** The engine runs it made, in order (none for `warm` and `shared`). */
  readonly engineRuns: readonly EngineRun[];
}

/** What `deprovision()` did and cost. */
export interface TeardownReport {
  /** True when it destroyed the stack; false when other jobs still use the gateways. */
  readonly destroyed: boolean;
  /** Wall time, seconds. */
  readonly seconds: number;
  /** The engine runs it made, in order. */
  readonly engineRuns: readonly EngineRun[];
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
  /** Opens a store; default the scheme registry's. */
  readonly open?: (uri: StoreUri, ctx: StoreContext) => ObjectStore;
  /** Now, epoch ms, for the warm period's arithmetic; default Date.now (tests move it on). */
  readonly clock?: () => number;
}

/** A topology in a few words, e.g. "2 gateway(s): local:east×1, local:west×1". */
function describeTopology(topology: Topology): string {
  const count = new Map<string, number>();
  for (const g of topology.gateways) count.set(g.region, (count.get(g.region) ?? 0) + 1);
  const regions = [...count].map(([r, n]) => `${r}×${n}`).join(", ");
  return `${topology.gateways.length} gateway(s): ${regions}`;
}

/** The bucket URIs `jobs` read and write, as their chunk requests name them. */
function jobBuckets(jobs: readonly Job[]): BucketGrants {
  const each = jobs.map((j) => j.plan?.buckets ?? bucketsOf(parseUri(j.src), parseUri(j.dst)));
  const all = (pick: (b: BucketGrants) => readonly string[]) =>
    [...new Set(each.flatMap(pick))].sort();
  return { read: all((b) => b.read), write: all((b) => b.write) };
}

/** True when `granted` includes every bucket of `wanted`. */
function covers(granted: BucketGrants | undefined, wanted: BucketGrants): boolean {
  return (
    wanted.read.every((b) => granted?.read.includes(b)) &&
    wanted.write.every((b) => granted?.write.includes(b))
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
  /** The buckets the running gateways may touch (bucket URIs), once provisioned. */
  private granted?: BucketGrants;
  private leases?: RouteLeases;
  private lease?: string;
  private heartbeat?: { timer: NodeJS.Timeout; clients: GatewayClient[] };
  private engine?: Engine;
  /** Epoch ms at which the gateways, kept warm, end on their own. */
  private expireAt?: number;
  private lastTeardown?: TeardownReport;
  /** `topologyDigest` of the topology and network profile: what leases and the route's record compare. */
  private readonly digest: string;
  /** The route's gateways as this process's children (a route on this machine alone), once started. */
  private children?: ChildGateways;
  /**
   * True when the route runs on this machine alone (`runsAsChildren`): its gateways are this process's
   * children, started for this dataplane and stopped with it; no stack, no engine, nothing kept warm.
   */
  readonly onClientAlone: boolean;

  /** @internal Built by `SkyplaneClient.dataplane()`. */
  constructor(
    /** The planned topology. */
    readonly topology: Topology,
    private readonly ctx: DataplaneContext,
    private readonly opts: DataplaneOptions = {},
  ) {
    this.stackName = routeStackName(topology.route.src, topology.route.dsts);
    this.digest = topologyDigest({ topology, network: ctx.network ?? null });
    this.onClientAlone = runsAsChildren(topology, ctx.network);
    if (opts.keepWarmSeconds !== undefined) checkKeepWarm(opts.keepWarmSeconds);
  }

  /**
   * How the local cloud's network behaves: "shaped" (the profile emulated with namespaces and tbf),
   * "unshaped" (a profile was given, but shaping needs root: loopback instead), or "loopback".
   */
  get network(): "shaped" | "unshaped" | "loopback" {
    if (!this.ctx.network) return "loopback";
    return emulatedNetwork(this.ctx.network) ? "shaped" : "unshaped";
  }

  /**
   * When this dataplane's gateways, kept warm, end on their own (ISO 8601), once provisioned; undefined
   * when they are not kept warm.
   */
  get warmUntil(): string | undefined {
    return this.expireAt !== undefined ? new Date(this.expireAt).toISOString() : undefined;
  }

  /** True once `provision()` has succeeded and `deprovision()` has not run since. */
  get provisioned(): boolean {
    return this.gateways !== undefined;
  }

  /**
   * Gets the route's gateways: a warm route's as they are, when this dataplane keeps its route warm and
   * the route's record says they fit its jobs and every one answers with the record's token (no engine
   * run); else an `up` of the route's stack (see `upRoute`): the gateways start, or an up-to-date stack
   * is kept as it is. Its topology is the stack's config, so `pulumi up --stack <route>` by hand builds
   * the same thing. The dataplane holds a lease on the route until `deprovision()`: while another job
   * runs the same topology on the route its gateways are shared as they are, and a different topology
   * is refused (ROUTE_BUSY) rather than pulled from under it. Resolves to how it got them.
   */
  async provision(opts: { onOutput?: (line: string) => void } = {}): Promise<ProvisionReport> {
    const started = performance.now();
    const leases = this.routeLeases();
    const plan = describeTopology(this.topology);
    let how: ProvisionReport["how"] = "engine";
    let reason: EngineReason | undefined;
    await leases.withLock(async () => {
      const others = leases.live().filter((l) => l.id !== this.lease);
      const foreign = others.filter((l) => l.topology !== this.digest);
      // Gateways on this machine alone are each job's own: another plan on the route takes nothing away.
      if (foreign.length > 0 && !this.onClientAlone) {
        throw new UserError(
          "ROUTE_BUSY",
          `route ${this.stackName} is in use by ${describeHolders(foreign)} with another plan (${foreign[0].plan}; this job needs ${plan}): ` +
            `wait for it to finish, or run this job with the same plan to share its gateways; ` +
            `if that process is stuck, end it and run 'skyplane deprovision -y ${this.stackName}'`,
        );
      }
      this.lease ??= leases.take(this.digest, plan);
      try {
        if (this.onClientAlone) {
          // Its own gateways, whatever other jobs on the route run: there is nothing to share or keep.
          await this.startChildren(this.jobs);
          how = "children";
          return;
        }
        // Another job runs this very topology: share its gateways as they are (an `up` could replace them).
        if (others.length > 0 && (await this.join(others))) {
          how = "shared";
          return;
        }
        reason = await this.reuseWarm();
        if (reason === undefined) {
          how = "warm";
          return;
        }
        await this.up(this.jobs, opts);
      } catch (err) {
        leases.release(this.lease);
        this.lease = undefined;
        throw err;
      }
    });
    this.startHeartbeat();
    return {
      how,
      ...(how === "engine" && { reason }),
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
      engineRuns: this.engine?.runs.filter((r) => r.at >= started) ?? [],
    };
  }

  /** Now, epoch ms (the context's clock). */
  private now(): number {
    return this.ctx.clock?.() ?? Date.now();
  }

  /**
   * Takes a warm route's recorded gateways as they are, without the engine, when this dataplane keeps
   * its route warm, they fit its jobs and every one answers with the record's token; else says why not.
   */
  private async reuseWarm(): Promise<EngineReason | undefined> {
    const warm = this.opts.keepWarmSeconds ?? 0;
    if (warm <= 0) return "not-warm";
    const found = await readRouteRecord(this.ctx.home, this.stackName, this.ctx.env);
    // The gateways must outlast the queued jobs: a warm gateway ends at its expiry, busy or not.
    const planned = this.jobs.reduce((s, j) => s + (j.plan?.estimate.seconds ?? 0), 0);
    const misfit = warmMisfit(found, {
      digest: this.digest,
      buckets: jobBuckets(this.jobs),
      storeEnv: storeEnvDigest(storeEnv(this.ctx.env)),
      now: this.now(),
      marginMs: Math.min(60_000, (warm * 1000) / 2) + 3 * planned * 1000,
    });
    if (misfit || !found) return misfit ?? "no-record";
    const answer = await probeGateways(found.record.gateways, found.secrets.token);
    // Secrets the gateways refuse are no one's: the engine path makes new ones, not these.
    if (answer === "token-mismatch") removeRouteRecord(this.ctx.home, this.stackName);
    if (answer) return answer;
    this.gateways = [...found.record.gateways];
    this.token = found.secrets.token;
    this.granted = found.record.granted;
    this.expireAt = found.record.expireAt;
    return undefined;
  }

  /**
   * The gateways another live job provisioned with this topology, as the route's record has them, if
   * they all answer. They must already be granted this dataplane's buckets: granting more would
   * restart them under the other job.
   */
  private async join(holders: readonly Lease[]): Promise<boolean> {
    const found = await readRouteRecord(this.ctx.home, this.stackName, this.ctx.env);
    if (!found || found.record.digest !== this.digest) return false;
    this.refuseRegrantWhileShared(found.record.granted, jobBuckets(this.jobs), holders);
    this.granted = found.record.granted;
    this.token = found.secrets.token;
    if (await probeGateways(found.record.gateways, found.secrets.token)) return false;
    this.gateways = [...found.record.gateways];
    this.expireAt = (this.opts.keepWarmSeconds ?? 0) > 0 ? found.record.expireAt : undefined;
    return true;
  }

  /** Refuses to widen the buckets of gateways that other live jobs are using. */
  private refuseRegrantWhileShared(
    granted: BucketGrants | undefined,
    wanted: BucketGrants,
    holders: readonly Lease[],
  ): void {
    if (holders.length === 0 || covers(granted, wanted)) return;
    const missing = [...wanted.read, ...wanted.write].filter(
      (b) => !granted?.read.includes(b) && !granted?.write.includes(b),
    );
    throw new UserError(
      "ROUTE_BUSY",
      `route ${this.stackName} is in use by ${describeHolders(holders)}, whose gateways are not granted ${[...new Set(missing)].join(", ")}: ` +
        `wait for it to finish (granting more buckets restarts the gateways), then run this job again`,
    );
  }

  private async openEngine(): Promise<Engine> {
    this.engine ??= await this.ctx.engine();
    return this.engine;
  }

  /** The buckets of `jobs` and of earlier grants. */
  private grantsWith(jobs: readonly Job[]): BucketGrants {
    const wanted = jobBuckets(jobs);
    return {
      read: [...new Set([...(this.granted?.read ?? []), ...wanted.read])].sort(),
      write: [...new Set([...(this.granted?.write ?? []), ...wanted.write])].sort(),
    };
  }

  /** Starts the route's gateways as children, granted the buckets of `jobs` and of earlier grants. */
  private async startChildren(jobs: readonly Job[]): Promise<void> {
    const grants = this.grantsWith(jobs);
    // Gateways granted fewer buckets are replaced (as an `up` would restart them).
    await this.children?.stop();
    this.children = undefined;
    this.children = await ChildGateways.start({
      topology: this.topology,
      grants,
      home: this.ctx.home,
      logDir: this.ctx.logDir,
      route: this.stackName,
      env: this.ctx.env,
      leaseSeconds: this.leaseSeconds,
      ttlMinutes: this.opts.ttlMinutes,
    });
    this.gateways = this.children.gateways;
    this.token = this.children.token;
    this.granted = grants;
  }

  /** Brings the stack up with its gateways granted the buckets of `jobs` and of earlier grants. */
  private async up(
    jobs: readonly Job[],
    opts: { onOutput?: (line: string) => void } = {},
  ): Promise<void> {
    const grants = this.grantsWith(jobs);
    const up = await upRoute({
      engine: await this.openEngine(),
      stackName: this.stackName,
      topology: this.topology,
      digest: this.digest,
      plan: describeTopology(this.topology),
      home: this.ctx.home,
      logDir: this.ctx.logDir,
      grants,
      jobs,
      keepWarmSeconds: this.opts.keepWarmSeconds ?? 0,
      ttlMinutes: this.opts.ttlMinutes,
      leaseSeconds: this.leaseSeconds,
      token: this.token,
      network: this.ctx.network,
      cloud: this.ctx.cloud,
      env: this.ctx.env,
      now: this.now(),
      onOutput: opts.onOutput,
    });
    this.stack = up.stack;
    this.gateways = up.gateways;
    this.token = up.token;
    this.granted = grants;
    this.expireAt = up.expireAt;
  }

  /**
   * Gives up this dataplane's lease on the route and, when no other live job holds one, destroys the
   * route's stack: every gateway stops, and the stack is left empty. Resolves to true when it destroyed
   * the stack, false when other jobs still use the gateways (the last of them tears them down). A
   * destroyed stack keeps none of the dataplane's secrets (the next provision makes new ones).
   */
  async deprovision(opts: { onOutput?: (line: string) => void } = {}): Promise<boolean> {
    const started = performance.now();
    this.stopHeartbeat();
    const leases = this.routeLeases();
    const destroyed = await leases.withLock(async () => {
      if (this.lease) leases.release(this.lease);
      this.lease = undefined;
      if (this.onClientAlone) {
        await this.children?.stop();
        this.children = undefined;
        // The last job on the route: work files that a killed one left in its destinations are orphans.
        if (leases.live().length === 0)
          await cleanupDestinations({ home: this.ctx.home, env: this.ctx.env }, this.stackName);
        return true;
      }
      if (leases.live().length > 0) return false;
      const engine = await this.openEngine();
      const stack: Stack = this.stack ?? (await engine.stack(this.stackName));
      // The gateways are going: nothing may take them for warm ones from now on.
      removeRouteRecord(this.ctx.home, this.stackName);
      try {
        await engine.destroy(stack, { onOutput: opts.onOutput });
      } catch (err) {
        const locked = lockedError(
          engine.home.state,
          this.stackName,
          engine.isConcurrentUpdate(err),
        );
        throw locked || err;
      }
      await forgetDataplaneSecrets(engine, stack);
      // A gateway the state never recorded (its create cut short) is stopped too.
      await stopStrayGateways(this.ctx.home, this.stackName);
      // The gateways are gone: work files they left in the destinations are orphans now.
      await cleanupDestinations({ home: this.ctx.home, env: this.ctx.env }, this.stackName);
      return true;
    });
    this.gateways = undefined;
    this.granted = undefined;
    this.expireAt = undefined;
    if (destroyed) this.token = undefined;
    this.lastTeardown = {
      destroyed,
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
      engineRuns: this.engine?.runs.filter((r) => r.at >= started) ?? [],
    };
    return destroyed;
  }

  /** What the last `deprovision()` did and cost, once one has run. */
  get teardown(): TeardownReport | undefined {
    return this.lastTeardown;
  }

  private get leaseSeconds(): number {
    return this.opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  }

  private routeLeases(): RouteLeases {
    this.leases ??= new RouteLeases(this.ctx.home, this.stackName);
    return this.leases;
  }

  /** Renews the gateways' lease on their client every few seconds while this dataplane holds them. */
  private startHeartbeat(): void {
    this.stopHeartbeat();
    if (!this.gateways) return;
    const clients = this.clients(this.gateways);
    const everyMs = Math.max(200, Math.min(5000, (this.leaseSeconds * 1000) / 4));
    const timer = setInterval(() => {
      // A missed beat is no error: the next one renews, and a dead gateway shows up in the transfer.
      for (const c of clients) c.renewLease().catch(() => undefined);
    }, everyMs);
    timer.unref();
    this.heartbeat = { timer, clients };
  }

  private stopHeartbeat(): void {
    if (!this.heartbeat) return;
    clearInterval(this.heartbeat.timer);
    for (const c of this.heartbeat.clients) c.close();
    this.heartbeat = undefined;
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
      if ((this.opts.keepWarmSeconds ?? 0) > 0 && !this.onClientAlone) {
        // Left up for later runs: only this job's claim ends (its gateways wait out the warm period).
        this.stopHeartbeat();
        if (this.lease) this.routeLeases().release(this.lease);
        this.lease = undefined;
        return;
      }
      if (this.stack || this.provisioned || this.lease) await this.deprovision();
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

  /** Queues a copy of `src` to `dst` (a prefix with `recursive`); it is planned when it runs. */
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
      delete: false,
      followSymlinks: opts.followSymlinks ?? false,
    });
  }

  /**
   * Queues a sync: copies what is missing or different; with `delete`, then removes extras at `dst`
   * (refused when source and destination overlap). It is planned when it runs.
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
      recursive: true,
      delete: opts.delete ?? false,
      followSymlinks: opts.followSymlinks ?? false,
    });
  }

  /**
   * Queues a copy or sync planned already (`SkyplaneClient.planCopy`): it runs as planned, with the
   * plan's listing; nothing is resolved or listed again. The plan stays the caller's to dispose.
   */
  queuePlan(plan: TransferPlan): void {
    this.checkRoute(
      { uri: plan.src.uri, region: plan.src.gateways },
      { uri: plan.dst.uri, region: plan.dst.gateways },
    );
    this.jobs.push({
      kind: plan.kind,
      src: plan.src.uri,
      dst: plan.dst.uri,
      recursive: plan.recursive,
      delete: plan.delete,
      followSymlinks: plan.followSymlinks,
      plan,
    });
  }

  /** Refuses a source or destination outside this dataplane's route. */
  private checkRoute(src: { uri: string; region: string }, dst: { uri: string; region: string }) {
    const { route } = this.topology;
    if (src.region !== route.src || !route.dsts.includes(dst.region)) {
      throw new UserError(
        "WRONG_ROUTE",
        `${src.uri} (${src.region}) → ${dst.uri} (${dst.region}) does not match this dataplane's route ${route.src} → ${route.dsts.join(", ")}`,
      );
    }
  }

  /**
   * Runs the queued jobs in the background; the tracker reports progress and the results. Aborting
   * `signal` stops dispatching, aborts the multipart uploads started, and rejects with an
   * InterruptedError (deprovisioning is still the caller's, as always).
   */
  runAsync(opts: { signal?: AbortSignal } = {}): Tracker<JobResult> {
    const jobs = this.jobs.splice(0);
    const progress = jobs.map(() => new TransferProgress());
    return new Tracker(progress, async () => {
      if (!this.gateways) throw new UserError("NOT_PROVISIONED", "call provision() before run()");
      // Gateways act only on the buckets granted when they were provisioned: jobs queued since, on
      // other buckets, bring the stack up again with those added (its gateways restart).
      if (!covers(this.granted, jobBuckets(jobs))) {
        const leases = this.routeLeases();
        await leases.withLock(async () => {
          const others = leases.live().filter((l) => l.id !== this.lease);
          if (this.onClientAlone) return this.startChildren(jobs);
          this.refuseRegrantWhileShared(this.granted, jobBuckets(jobs), others);
          await this.up(jobs);
        });
        this.startHeartbeat(); // the restarted gateways listen anew
      }
      const results: JobResult[] = [];
      for (const [i, job] of jobs.entries()) {
        if (opts.signal?.aborted) throw new InterruptedError();
        results.push(await this.runJob(job, progress[i], opts.signal));
      }
      return results;
    });
  }

  /** Runs the queued jobs and resolves to one result per job. */
  async run(opts: { signal?: AbortSignal } = {}): Promise<JobResult[]> {
    return this.runAsync(opts).join();
  }

  private clients(gateways: ProvisionedGateway[]): GatewayClient[] {
    return gateways.map((g) => gatewayClient(g, this.token as string));
  }

  /** Plans a job queued by `queueCopy` or `queueSync`, on this dataplane's route. */
  private planJob(job: Job): Promise<TransferPlan> {
    // A queued sync is planned as one: only what differs is copied, and `delete` applies.
    return planTransfer(
      { ...job, sync: job.kind === "sync" },
      {
        stores: { home: this.ctx.home, env: this.ctx.env },
        open: this.ctx.open,
        chunking: this.ctx.transfer,
        route: (srcRegion, dstRegion, onClient) => {
          // A dataplane on the client alone takes a job that can run there; any other keeps its route.
          const { route } = this.topology;
          const clientOnly =
            route.src === CLIENT_REGION && route.dsts.every((d) => d === CLIENT_REGION);
          if (!(onClient && clientOnly))
            this.checkRoute(
              { uri: job.src, region: srcRegion },
              { uri: job.dst, region: dstRegion },
            );
          return this.topology;
        },
      },
    );
  }

  private async runJob(
    job: Job,
    progress: TransferProgress,
    signal?: AbortSignal,
  ): Promise<JobResult> {
    let plan: TransferPlan;
    try {
      plan = job.plan ?? (await this.planJob(job));
    } catch (err) {
      progress.emit({ type: "failed", error: err as Error });
      throw err;
    }
    try {
      return await this.runPlan(plan, progress, signal);
    } finally {
      if (!job.plan) await plan[Symbol.asyncDispose]();
    }
  }

  private async runPlan(
    plan: TransferPlan,
    progress: TransferProgress,
    signal?: AbortSignal,
  ): Promise<JobResult> {
    const stores = { home: this.ctx.home, env: this.ctx.env };
    prepareDestination(plan.dst);
    // Before anything is written, so that deprovision finds the work files of a killed run.
    recordDestination(stores, this.stackName, plan.dst.parsed);
    const gateways = this.gateways as ProvisionedGateway[];
    const target = {
      sources: this.clients(gateways.filter((g) => g.source)),
      destinations: this.clients(gateways.filter((g) => g.region === plan.dst.gateways)),
      stores,
      dstRegion: plan.dst.gateways,
      open: this.ctx.open,
    };
    const opts = { ...DEFAULT_TRANSFER_OPTIONS, verify: this.ctx.transfer.verify, signal };
    const about = (r: TransferResult): JobResult => ({
      ...r,
      stack: this.stackName,
      estimate: plan.estimate,
      costUSD: Number(actualCostUSD(this.topology, r.bytes, r.seconds).toFixed(6)),
    });
    try {
      if (plan.kind === "copy") return about(await runTransfer(plan, target, opts, progress));
      const copied =
        plan.listing.objects > 0
          ? await runTransfer(plan, target, opts, progress)
          : { objects: 0, bytes: 0, seconds: 0 };
      if (plan.listing.objects === 0)
        progress.emit({ type: "done", objects: 0, bytes: 0, seconds: 0 });
      // Extras go only once every copy has succeeded (runTransfer threw otherwise).
      if (signal?.aborted) throw new InterruptedError();
      const extra = plan.delete ? (plan.sync?.extra ?? []) : [];
      if (extra.length > 0) {
        const dst = (this.ctx.open ?? openStore)(plan.dst.parsed, stores);
        for (const key of extra) await dst.delete(key);
      }
      return { ...about(copied), deleted: plan.delete ? extra.length : 0 };
    } finally {
      for (const c of [...target.sources, ...target.destinations]) c.close();
    }
  }
}

/** Creates a destination folder that is missing, and checks it can be written. */
function prepareDestination(dst: PlanEnd): void {
  if (dst.parsed.scheme !== "file") return;
  try {
    fs.mkdirSync(dst.parsed.bucket, { recursive: true });
    fs.accessSync(dst.parsed.bucket, fs.constants.W_OK);
  } catch (err) {
    throw new UserError(
      "UNWRITABLE",
      `cannot write to ${dst.parsed.bucket}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
