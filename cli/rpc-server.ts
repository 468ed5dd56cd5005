/*
 * One session of `skyplane rpc`: the library's one SkyplaneClient, served to a peer process (the
 * Python package) request by request. Dataplanes and trackers live here under integer handles. When
 * the peer goes (`close`), every request still running is stopped, and every dataplane under
 * auto-deprovision is torn down, as `await using _ = dp.autoDeprovision()` would in a TypeScript program.
 * The protocol is python/PROTOCOL.md; its wire is rpc-wire.ts.
 */
import {
  AWSConfig,
  AzureConfig,
  Dataplane,
  GCPConfig,
  JobResult,
  NetworkProfile,
  parseProfile,
  SkyplaneClient,
  SkyplaneClientOptions,
  Tracker,
  TrackerEvent,
  TransferEvent,
  TransferProgress,
  UserError,
} from "../runner";
import { readProfile } from "./profile-file";
import { Params } from "./rpc-params";
import {
  badMessage,
  encode,
  oversized,
  Outgoing,
  parseRequest,
  PROTOCOL_VERSION,
  Request,
  RequestId,
  wireError,
} from "./rpc-wire";

/**
 * The network profile `init` names: inline (`network`, a profile object as in profiles/*.json) or as a
 * file (`networkFile`, read here as `skyplane cp --profile` reads it), each checked as the CLI checks it.
 */
function initNetwork(p: Params): NetworkProfile | undefined {
  const inline = p.optObject("network");
  const file = p.optString("networkFile");
  if (inline && file !== undefined)
    throw badMessage(
      '"init" takes a network profile as "network" or as "networkFile", not both: send one',
    );
  if (file !== undefined) return readProfile(file);
  if (!inline) return undefined;
  try {
    return parseProfile(inline);
  } catch (err) {
    throw new UserError("BAD_PROFILE", `network profile: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** How a session talks to its peer. */
export interface RpcSessionOptions {
  /** Writes one encoded message (a line) to the peer. */
  readonly write: (line: string) => void;
  /** Milliseconds between heartbeats. */
  readonly heartbeatMs: number;
  /** Makes the session's one client; default `new SkyplaneClient(options)`. */
  readonly makeClient?: (options: SkyplaneClientOptions) => SkyplaneClient;
  /** Where diagnostics go (the process's stderr); never the protocol's channel. */
  readonly log?: (line: string) => void;
}

/** The context of one request as a method sees it. */
interface Call {
  readonly id: RequestId;
  /** Aborted by `cancel` of this request, or when the session closes. */
  readonly signal: AbortSignal;
}

/** Where a progress event belongs: a request (copy, sync, run) or a tracker (runAsync). */
type ProgressTarget = { readonly id: RequestId } | { readonly tracker: number };

/** The credential fields each config takes (AWSConfig's, GCPConfig's and AzureConfig's options). */
const CREDENTIAL_FIELDS = {
  aws: ["accessKeyId", "secretAccessKey", "sessionToken", "profile", "endpoint"],
  gcp: ["projectId", "keyFilename", "apiEndpoint"],
  azure: ["connectionString", "subscriptionId"],
} as const;

/** A transfer event as the wire carries it: an error becomes its code and message. */
function eventJson(e: TransferEvent | TrackerEvent): Record<string, unknown> {
  return e.type === "failed" ? { ...e, error: wireError(e.error) } : { ...e };
}

/** The session of one `skyplane rpc` process. */
export class RpcSession {
  private client?: SkyplaneClient;
  private readonly dataplanes = new Map<number, Dataplane>();
  private readonly trackers = new Map<
    number,
    { readonly tracker: Tracker<JobResult>; readonly controller: AbortController }
  >();
  /** Dataplanes under auto-deprovision: the scope `autoDeprovision()` returned, disposed at its end. */
  private readonly scopes = new Map<number, AsyncDisposable>();
  private readonly running = new Map<
    RequestId,
    { readonly controller: AbortController; readonly settled: Promise<void> }
  >();
  private nextHandle = 1;
  private closing?: Promise<boolean>;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly methods: Record<string, (p: Params, call: Call) => Promise<unknown>> = {
    init: (p) => this.init(p),
    logDir: async () => ({ logDir: this.session().logDir }),
    copy: (p, call) => this.transfer("copy", p, call),
    sync: (p, call) => this.transfer("sync", p, call),
    "dataplane.create": (p) => this.createDataplane(p),
    "dataplane.provision": (p) => this.provision(p),
    "dataplane.deprovision": (p) => this.deprovision(p),
    "dataplane.autoDeprovision": (p) => this.autoDeprovision(p),
    "dataplane.endAutoDeprovision": (p) => this.endAutoDeprovision(p),
    "dataplane.queueCopy": (p) => this.queue("copy", p),
    "dataplane.queueSync": (p) => this.queue("sync", p),
    "dataplane.run": (p, call) => this.run(p, call),
    "dataplane.runAsync": (p) => this.runAsync(p),
    "tracker.query": (p) => this.query(p),
    "tracker.join": (p, call) => this.join(p, call),
    cancel: (p) => this.cancel(p),
  };

  constructor(private readonly opts: RpcSessionOptions) {
    this.heartbeat = setInterval(() => this.send({ v: 1, event: "heartbeat" }), opts.heartbeatMs);
  }

  /** Handles one line from the peer: a request, or a message to refuse. */
  receive(line: Buffer): void {
    const parsed = parseRequest(line);
    if ("error" in parsed) {
      this.send({ v: 1, id: parsed.id, error: wireError(parsed.error) });
      return;
    }
    this.dispatch(parsed.request);
  }

  /** Refuses a line of `bytes` bytes that was over the limit (and dropped unread). */
  refuseOversized(bytes: number): void {
    this.send({ v: 1, id: null, error: wireError(oversized(bytes)) });
  }

  /**
   * Ends the session (the peer is gone, or a signal came): stops every running request and tracker,
   * waits for them, then tears down every dataplane under auto-deprovision. Resolves to true when all
   * of that succeeded.
   */
  close(reason: string): Promise<boolean> {
    this.closing ??= this.teardown(reason);
    return this.closing;
  }

  private async teardown(reason: string): Promise<boolean> {
    const stacks = [...this.scopes.keys()].map((h) => this.dataplanes.get(h)?.stackName);
    this.log(
      `skyplane rpc: ${reason}: stopping ${this.running.size} request(s)` +
        (stacks.length ? `, then deprovisioning ${stacks.join(", ")}` : ""),
    );
    for (const r of this.running.values()) r.controller.abort();
    for (const t of this.trackers.values()) t.controller.abort();
    await Promise.allSettled([...this.running.values()].map((r) => r.settled));
    await Promise.allSettled([...this.trackers.values()].map((t) => t.tracker.join()));
    let ok = true;
    for (const [handle, scope] of this.scopes) {
      try {
        await scope[Symbol.asyncDispose]();
      } catch (err) {
        ok = false;
        const stack = this.dataplanes.get(handle)?.stackName;
        this.log(
          `skyplane rpc: deprovisioning ${stack} failed: ${(err as Error).message}; run 'skyplane deprovision -y ${stack}'`,
        );
      }
    }
    this.scopes.clear();
    clearInterval(this.heartbeat);
    return ok;
  }

  private send(message: Outgoing): void {
    this.opts.write(encode(message));
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private dispatch(req: Request): void {
    const refuse = (err: Error) => this.send({ v: 1, id: req.id, error: wireError(err) });
    if (this.closing) return refuse(badMessage("the session is closing"));
    if (this.running.has(req.id))
      return refuse(badMessage(`request id ${JSON.stringify(req.id)} is still in use`));
    const method = Object.hasOwn(this.methods, req.method) ? this.methods[req.method] : undefined;
    if (!method)
      return refuse(
        badMessage(
          `unknown method ${JSON.stringify(req.method)}; the methods are ${Object.keys(this.methods).join(", ")}`,
        ),
      );
    const controller = new AbortController();
    const settled = (async () =>
      method(new Params(req.method, req.params), {
        id: req.id,
        signal: controller.signal,
      }))()
      .then(
        (result) => this.send({ v: 1, id: req.id, result: result ?? null }),
        (err: unknown) => this.send({ v: 1, id: req.id, error: wireError(err) }),
      )
      .finally(() => this.running.delete(req.id));
    this.running.set(req.id, { controller, settled });
  }

  /** The session's client; refuses every method but `init` until it exists. */
  private session(): SkyplaneClient {
    if (!this.client) throw badMessage('send "init" first: it makes the session\'s client');
    return this.client;
  }

  private async init(p: Params): Promise<unknown> {
    if (this.client)
      throw badMessage(
        '"init" was sent already: a session has one client (start another process for another)',
      );
    const aws = p.optStrings("aws", CREDENTIAL_FIELDS.aws);
    const gcp = p.optStrings("gcp", CREDENTIAL_FIELDS.gcp);
    const azure = p.optStrings("azure", CREDENTIAL_FIELDS.azure);
    const options: SkyplaneClientOptions = {
      ...(aws && { aws: new AWSConfig(aws) }),
      ...(gcp && { gcp: new GCPConfig(gcp) }),
      ...(azure && { azure: new AzureConfig(azure) }),
      ...(p.optString("logDir") !== undefined && { logDir: p.optString("logDir") }),
    };
    const network = initNetwork(p);
    const client = (this.opts.makeClient ?? ((o) => new SkyplaneClient(o)))({
      ...options,
      ...(network && { network }),
    });
    this.client = client;
    return {
      protocol: PROTOCOL_VERSION,
      pid: process.pid,
      home: client.home,
      logDir: client.logDir,
      network: client.network,
    };
  }

  private progress(target: ProgressTarget, e: TransferEvent | TrackerEvent): void {
    this.send({ v: 1, event: "progress", ...target, job: 0, ...eventJson(e) });
  }

  private transfer(kind: "copy" | "sync", p: Params, call: Call): Promise<JobResult> {
    const client = this.session();
    const req = {
      src: p.string("src"),
      dst: p.string("dst"),
      recursive: p.optBoolean("recursive"),
      nVms: p.optNumber("nVms"),
      followSymlinks: p.optBoolean("followSymlinks"),
      leaseSeconds: p.optNumber("leaseSeconds"),
      signal: call.signal,
      onProgress: p.optBoolean("progress")
        ? (t: TransferProgress) => t.on((e) => this.progress({ id: call.id }, e))
        : undefined,
    };
    return kind === "copy"
      ? client.copy(req)
      : client.sync({ ...req, delete: p.optBoolean("delete") });
  }

  private dataplane(p: Params): Dataplane {
    const handle = p.handle("dataplane");
    const dp = this.dataplanes.get(handle);
    if (!dp) throw badMessage(`no dataplane ${handle} in this session`);
    return dp;
  }

  private async createDataplane(p: Params): Promise<unknown> {
    const dp = this.session().dataplane(
      p.string("srcCloud"),
      p.string("srcRegion"),
      p.string("dstCloud"),
      p.string("dstRegion"),
      {
        nVms: p.optNumber("nVms"),
        nConnections: p.optNumber("nConnections"),
        keepWarmSeconds: p.optNumber("keepWarmSeconds"),
        ttlMinutes: p.optNumber("ttlMinutes"),
        leaseSeconds: p.optNumber("leaseSeconds"),
      },
    );
    const handle = this.nextHandle++;
    this.dataplanes.set(handle, dp);
    return { dataplane: handle, stack: dp.stackName };
  }

  private async provision(p: Params): Promise<unknown> {
    const dp = this.dataplane(p);
    await dp.provision();
    return { stack: dp.stackName };
  }

  private async deprovision(p: Params): Promise<unknown> {
    const dp = this.dataplane(p);
    this.scopes.delete(p.handle("dataplane"));
    return { destroyed: await dp.deprovision() };
  }

  private async autoDeprovision(p: Params): Promise<unknown> {
    const dp = this.dataplane(p);
    const handle = p.handle("dataplane");
    if (!this.scopes.has(handle)) this.scopes.set(handle, dp.autoDeprovision());
    return null;
  }

  private async endAutoDeprovision(p: Params): Promise<unknown> {
    this.dataplane(p);
    const handle = p.handle("dataplane");
    const scope = this.scopes.get(handle);
    this.scopes.delete(handle);
    await scope?.[Symbol.asyncDispose]();
    return null;
  }

  private async queue(kind: "copy" | "sync", p: Params): Promise<unknown> {
    const dp = this.dataplane(p);
    const src = p.string("src");
    const dst = p.string("dst");
    const followSymlinks = p.optBoolean("followSymlinks");
    if (kind === "copy")
      dp.queueCopy(src, dst, { recursive: p.optBoolean("recursive"), followSymlinks });
    else dp.queueSync(src, dst, { delete: p.optBoolean("delete"), followSymlinks });
    return null;
  }

  private async run(p: Params, call: Call): Promise<unknown> {
    const tracker = this.dataplane(p).runAsync({ signal: call.signal });
    if (p.optBoolean("progress")) tracker.on((e) => this.progress({ id: call.id }, e));
    return { results: await tracker.join() };
  }

  private async runAsync(p: Params): Promise<unknown> {
    const controller = new AbortController();
    const tracker = this.dataplane(p).runAsync({ signal: controller.signal });
    const handle = this.nextHandle++;
    this.trackers.set(handle, { tracker, controller });
    if (p.optBoolean("progress")) tracker.on((e) => this.progress({ tracker: handle }, e));
    return { tracker: handle };
  }

  private tracker(p: Params): { tracker: Tracker<JobResult>; controller: AbortController } {
    const handle = p.handle("tracker");
    const t = this.trackers.get(handle);
    if (!t) throw badMessage(`no tracker ${handle} in this session`);
    return t;
  }

  private async query(p: Params): Promise<unknown> {
    const { tracker } = this.tracker(p);
    return {
      bytesRemaining: tracker.queryBytesRemaining() ?? null,
      bytesDispatched: tracker.queryBytesDispatched(),
      bytesLanded: tracker.queryBytesLanded(),
      complete: tracker.isComplete(),
    };
  }

  /** Waits for a tracker; cancelling the wait stops the tracker's transfer (Ctrl-C in `join()`). */
  private async join(p: Params, call: Call): Promise<unknown> {
    const t = this.tracker(p);
    const stop = () => t.controller.abort();
    call.signal.addEventListener("abort", stop, { once: true });
    try {
      return { results: await t.tracker.join() };
    } finally {
      call.signal.removeEventListener("abort", stop);
    }
  }

  private async cancel(p: Params): Promise<unknown> {
    const target = this.running.get(p.requestId("id"));
    target?.controller.abort();
    return { cancelled: target !== undefined };
  }
}
