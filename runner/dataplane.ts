import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { ConcurrentUpdateError, type Stack } from "@pulumi/pulumi/automation";
import type { CloudSettings } from "../planner/cloud-settings";
import type { BucketGrants } from "../planner/program";
import { ProvisionedGateway, routeStackName, Topology } from "../planner/topology";
import { ObjectStore, openStore, StoreContext, storeEnv, StoreUri } from "../stores";
import { SkyplaneError, UserError } from "../errors";
import { emulatedNetwork, NetworkProfile } from "../planner/profile";
import { CLOUD_TTL_MINUTES, DEFAULT_LEASE_SECONDS, LOCAL_TTL_MINUTES } from "../common/ttl";
import { dataplaneTtlMinutes, requireProviderPlugins, resolveCloudSettings } from "./cloud";
import { TransferConfig } from "./config";
import { Engine, policyPackDir, redact } from "./engine";
import { lockedError } from "./locks";
import { forgetDataplaneSecrets, stopStrayGateways } from "./stacks";
import { GatewayClient } from "./gateway-client";
import { describeHolders, Lease, RouteLeases, topologyDigest } from "./lease";
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
   * by hand builds the same thing. The dataplane holds a lease on the route until `deprovision()`:
   * while another job runs the same topology on the route its gateways are shared as they are, and a
   * different topology is refused (ROUTE_BUSY) rather than pulled from under it.
   * The token and key are new on every provision but one that reuses a live stack as it is (see
   * below); they reach the engine on its stdin, never on a command line.
   */
  async provision(opts: { onOutput?: (line: string) => void } = {}): Promise<void> {
    const leases = this.routeLeases();
    const digest = topologyDigest({ topology: this.topology, network: this.ctx.network ?? null });
    const plan = describeTopology(this.topology);
    await leases.withLock(async () => {
      const others = leases.live().filter((l) => l.id !== this.lease);
      const foreign = others.filter((l) => l.topology !== digest);
      if (foreign.length > 0) {
        throw new UserError(
          "ROUTE_BUSY",
          `route ${this.stackName} is in use by ${describeHolders(foreign)} with another plan (${foreign[0].plan}; this job needs ${plan}): ` +
            `wait for it to finish, or run this job with the same plan to share its gateways; ` +
            `if that process is stuck, end it and run 'skyplane deprovision -y ${this.stackName}'`,
        );
      }
      this.lease ??= leases.take(digest, plan);
      try {
        // Another job runs this very topology: share its gateways as they are (an `up` could replace them).
        if (others.length > 0 && (await this.join(others))) return;
        await this.up(this.jobs, opts);
      } catch (err) {
        leases.release(this.lease);
        this.lease = undefined;
        throw err;
      }
    });
    this.startHeartbeat();
  }

  /**
   * The gateways another live job provisioned with this topology, if they all answer. They must already
   * be granted this dataplane's buckets: granting more would restart them under the other job.
   */
  private async join(holders: readonly Lease[]): Promise<boolean> {
    const stack = await (await this.ctx.engine()).stack(this.stackName);
    this.stack = stack;
    const gateways = (await stack.outputs()).gateways?.value as ProvisionedGateway[] | undefined;
    const config = await stack.getAllConfig();
    const token = config["skyplane:token"]?.value;
    if (!gateways?.length || !token) return false;
    const granted = config["skyplane:buckets"]
      ? (JSON.parse(config["skyplane:buckets"].value) as BucketGrants)
      : undefined;
    this.refuseRegrantWhileShared(granted, jobBuckets(this.jobs), holders);
    this.granted = granted;
    this.token = token;
    try {
      await Promise.all(this.clients(gateways).map((c) => c.status()));
    } catch {
      return false;
    }
    this.gateways = gateways;
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

  /** Brings the stack up with its gateways granted the buckets of `jobs` and of earlier grants. */
  private async up(
    jobs: readonly Job[],
    opts: { onOutput?: (line: string) => void } = {},
  ): Promise<void> {
    const wanted = jobBuckets(jobs);
    const grants: BucketGrants = {
      read: [...new Set([...(this.granted?.read ?? []), ...wanted.read])].sort(),
      write: [...new Set([...(this.granted?.write ?? []), ...wanted.write])].sort(),
    };
    const engine = await this.ctx.engine();
    const stack = await engine.stack(this.stackName);
    this.stack = stack;
    const config = await stack.getAllConfig();
    const settings: Record<string, { value: string }> = {
      "skyplane:topology": { value: JSON.stringify(this.topology) },
      "skyplane:logDir": { value: this.ctx.logDir },
      // The gateways act only on these buckets: a chunk request naming any other is refused.
      "skyplane:buckets": { value: JSON.stringify(grants) },
    };
    const warm = this.opts.keepWarmSeconds ?? 0;
    const expireAt = Number(config["skyplane:expireAt"]?.value);
    // A still-valid expiry is kept, so that a warm stack is reused as it is rather than restarted.
    const stillWarm = warm > 0 && expireAt > Date.now() + Math.min(60_000, (warm * 1000) / 2);
    if (warm > 0 && !stillWarm) {
      settings["skyplane:expireAt"] = { value: String(Date.now() + warm * 1000) };
    } else if (warm === 0 && config["skyplane:expireAt"]) {
      await stack.removeConfig("skyplane:expireAt");
    }
    // Fresh secrets on every provision, so that a token or key that leaked once opens nothing later.
    // The exceptions are stacks that are up and reused as they are: a warm stack still in its warm
    // period, or the one this dataplane provisioned itself. Their gateways hold the live token and key;
    // new ones would restart every gateway and defeat the reuse (a gateway of theirs that died is
    // recreated with them too, as its live peers share them).
    const live = config["skyplane:token"]?.value;
    const reuseSecrets =
      !!live &&
      !!config["skyplane:key"]?.value &&
      (live === this.token || (stillWarm && (await this.hasResources(stack))));
    const secrets: Record<string, string> = {
      "skyplane:token": reuseSecrets
        ? config["skyplane:token"].value
        : crypto.randomBytes(32).toString("base64url"),
      "skyplane:key": reuseSecrets
        ? config["skyplane:key"].value
        : crypto.randomBytes(32).toString("base64"),
      // Endpoints and credentials of cloud stores, for the gateways: a secret, like the token.
      "skyplane:storeEnv": JSON.stringify(storeEnv(this.ctx.env)),
    };
    const token = secrets["skyplane:token"];
    const onClouds = this.topology.gateways.some((g) => g.provider !== "local");
    const ttl = dataplaneTtlMinutes(this.opts, onClouds ? CLOUD_TTL_MINUTES : LOCAL_TTL_MINUTES);
    settings["skyplane:leaseSeconds"] = { value: String(this.leaseSeconds) };
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
        jobs,
        now: Date.now(),
      });
      await requireProviderPlugins(this.topology, () => stack.workspace.listPlugins(), {
        pulumiHome: engine.home.pulumiHome,
        cli: engine.cli,
      });
      settings["skyplane:cloud"] = { value: JSON.stringify(cloud) };
    }
    await stack.setAllConfig(settings);
    for (const [name, value] of Object.entries(secrets)) {
      const current = config[name];
      if (current?.secret && current.value === value) continue; // one engine run less
      await engine.setSecret(this.stackName, name, value);
    }
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
      const locked =
        err instanceof ConcurrentUpdateError && lockedError(engine.home.state, this.stackName);
      if (locked) throw locked;
      // The engine masks secrets in what it prints, but a gateway's log tail may be quoted too.
      const tail = (err as Error).message.split("\n").slice(-12).join("\n");
      const credentials = Object.entries(storeEnv(this.ctx.env))
        .filter(([name]) => /SECRET|KEY|TOKEN|PASSWORD|CONNECTION_STRING/.test(name))
        .map(([, value]) => value);
      const quoted = redact(tail, [
        secrets["skyplane:token"],
        secrets["skyplane:key"],
        ...credentials,
      ]);
      throw new SkyplaneError(
        "PROVISION_FAILED",
        `provisioning stack ${this.stackName} failed: ${quoted}\n` +
          `Gateway logs are in ${this.ctx.logDir}/${this.stackName}; 'skyplane deprovision -y ${this.stackName}' removes what was created.`,
        // No cause: the engine's own error may quote credentials, and SKYPLANE_DEBUG prints causes.
      );
    }
    this.gateways = up.outputs.gateways?.value as ProvisionedGateway[];
    this.token = token;
    this.granted = grants;
    await Promise.all(this.clients(this.gateways).map((c) => c.status()));
  }

  /**
   * Gives up this dataplane's lease on the route and, when no other live job holds one, destroys the
   * route's stack: every gateway stops, and the stack is left empty. Resolves to true when it destroyed
   * the stack, false when other jobs still use the gateways (the last of them tears them down). A
   * destroyed stack keeps none of the dataplane's secrets (the next provision makes new ones).
   */
  async deprovision(opts: { onOutput?: (line: string) => void } = {}): Promise<boolean> {
    this.stopHeartbeat();
    const leases = this.routeLeases();
    const destroyed = await leases.withLock(async () => {
      if (this.lease) leases.release(this.lease);
      this.lease = undefined;
      if (leases.live().length > 0) return false;
      const engine = await this.ctx.engine();
      const stack = this.stack ?? (await engine.stack(this.stackName));
      try {
        await stack.destroy({ color: "never", onOutput: opts.onOutput });
      } catch (err) {
        const locked =
          err instanceof ConcurrentUpdateError && lockedError(engine.home.state, this.stackName);
        throw locked || err;
      }
      await forgetDataplaneSecrets(stack);
      // A gateway the state never recorded (its create cut short) is stopped too.
      await stopStrayGateways(this.ctx.home, this.stackName);
      // The gateways are gone: work files they left in the destinations are orphans now.
      await cleanupDestinations({ home: this.ctx.home, env: this.ctx.env }, this.stackName);
      return true;
    });
    this.gateways = undefined;
    this.granted = undefined;
    if (destroyed) this.token = undefined;
    return destroyed;
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

  /** True when the stack holds resources (its gateways are up, or were until they ended on their own). */
  private async hasResources(stack: Stack): Promise<boolean> {
    const summary = (await stack.workspace.listStacks()).find((s) => s.name === this.stackName);
    return (summary?.resourceCount ?? 0) > 0;
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
      if ((this.opts.keepWarmSeconds ?? 0) > 0) {
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
    this.checkRoute(plan.src, plan.dst);
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
    return gateways.map(
      (g) =>
        new GatewayClient(
          { gatewayId: g.id, host: g.host, controlPort: g.controlPort },
          this.token as string,
        ),
    );
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
        route: (srcRegion, dstRegion) => {
          this.checkRoute({ uri: job.src, region: srcRegion }, { uri: job.dst, region: dstRegion });
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
      destinations: this.clients(gateways.filter((g) => g.region === plan.dst.region)),
      stores,
      dstRegion: plan.dst.region,
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
