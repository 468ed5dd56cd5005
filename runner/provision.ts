import * as crypto from "node:crypto";
import * as fs from "node:fs";
import type { Stack } from "@pulumi/pulumi/automation";
import type { BucketGrants } from "../planner/program";
import type { ProvisionedGateway, Topology } from "../planner/topology";
import type { NetworkProfile } from "../planner/profile";
import type { CloudSettings } from "../planner/cloud-settings";
import { storeEnv } from "../stores/core";
import { SkyplaneError, UserError } from "../errors";
import { CLOUD_TTL_MINUTES, LOCAL_TTL_MINUTES } from "../common/ttl";
import { dataplaneTtlMinutes, requireProviderPlugins, resolveCloudSettings } from "./cloud";
import { Engine, redact } from "./engine";
import { GatewayClient, GatewayUnreachableError } from "./gateway-client";
import { lockedError } from "./locks";
import { DATAPLANE_ONLY_CONFIG } from "./stacks";
import {
  EngineReason,
  readRouteRecord,
  removeRouteRecord,
  storeEnvDigest,
  writeRouteRecord,
} from "./route-record";

/*
 * A route's stack brought up through the engine, in as few engine runs as it takes: the `up` itself
 * (and `stack init` for a stack the backend does not hold yet). Plain config is written to the stack's settings file, the
 * dataplane's secrets go to the program directly, the gateways come back from the program, and a stack
 * that holds nothing is not refreshed first.
 */

/** What one `up` of a route needs. */
export interface RouteUp {
  /** The engine. */
  readonly engine: Engine;
  /** The route's stack name. */
  readonly stackName: string;
  /** Its topology. */
  readonly topology: Topology;
  /** `topologyDigest` of the topology and network profile (the leases'). */
  readonly digest: string;
  /** The topology in a few words. */
  readonly plan: string;
  /** The skyplane home. */
  readonly home: string;
  /** Where gateway logs go. */
  readonly logDir: string;
  /** The buckets the gateways may touch. */
  readonly grants: BucketGrants;
  /** The jobs (their sources and destinations; cloud settings grant them). */
  readonly jobs: ReadonlyArray<{ readonly src: string; readonly dst: string }>;
  /** Keep the gateways up this long after the job (0: torn down). */
  readonly keepWarmSeconds: number;
  /** Gateway TTL asked for. */
  readonly ttlMinutes?: number;
  /** Seconds of client silence after which gateways end. */
  readonly leaseSeconds: number;
  /** The token the dataplane holds already (its own gateways), if any. */
  readonly token?: string;
  /** The local cloud as an emulated WAN. */
  readonly network?: NetworkProfile;
  /** Cloud settings from the client. */
  readonly cloud?: Partial<CloudSettings>;
  /** Environment of stores and gateways. */
  readonly env?: NodeJS.ProcessEnv;
  /** Now, epoch ms. */
  readonly now: number;
  /** Engine output, line by line. */
  readonly onOutput?: (line: string) => void;
}

/** What an `up` leaves: the gateways, and the secrets and grants they hold. */
export interface RouteUpResult {
  /** The stack (for a later destroy). */
  readonly stack: Stack;
  /** The gateways, answering. */
  readonly gateways: ProvisionedGateway[];
  /** Their token. */
  readonly token: string;
  /** Epoch ms at which they end on their own, kept warm; undefined when not kept warm. */
  readonly expireAt?: number;
}

/**
 * Brings the route's stack up (`up`, refreshing first only a stack that holds resources): the gateways
 * start, or a current stack is kept as it is. Writes the route's record once every gateway answers.
 * The token and key are new unless the stack is kept as it is (see below).
 */
export async function upRoute(r: RouteUp): Promise<RouteUpResult> {
  const { engine, stackName } = r;
  const stack = await engine.stack(stackName);
  const config = await engine.plainConfig(stack);
  const settings: Record<string, string> = {
    "skyplane:topology": JSON.stringify(r.topology),
    "skyplane:logDir": r.logDir,
    // The gateways act only on these buckets: a chunk request naming any other is refused.
    "skyplane:buckets": JSON.stringify(r.grants),
  };
  // Secrets a stack made by an earlier version holds in its config: the program takes them from us now.
  const remove = DATAPLANE_ONLY_CONFIG.filter((k) => k !== "skyplane:expireAt");
  const warm = r.keepWarmSeconds;
  const expireAt = Number(config["skyplane:expireAt"]);
  // A still-valid expiry is kept, so that a warm stack is reused as it is rather than restarted.
  const stillWarm = warm > 0 && expireAt > r.now + Math.min(60_000, (warm * 1000) / 2);
  if (warm > 0 && !stillWarm) settings["skyplane:expireAt"] = String(r.now + warm * 1000);
  else if (warm === 0) remove.push("skyplane:expireAt");
  // Fresh secrets on every provision, so that a token or key that leaked once opens nothing later.
  // The exceptions are stacks that are up and reused as they are: a warm stack still in its warm
  // period, or the one this dataplane provisioned itself. Their gateways hold the live token and key;
  // new ones would restart every gateway and defeat the reuse (a gateway of theirs that died is
  // recreated with them too, as its live peers share them).
  const held = (await readRouteRecord(r.home, stackName, r.env))?.secrets;
  const resources = engine.resourceCount(stackName);
  const reuse =
    !!held && (held.token === r.token || (stillWarm && (resources === undefined || resources > 0)));
  const token = reuse && held ? held.token : crypto.randomBytes(32).toString("base64url");
  const key = reuse && held ? held.key : crypto.randomBytes(32).toString("base64");
  // Endpoints and credentials of cloud stores, for the gateways (a secret, like the token).
  const stores = storeEnv(r.env);
  const onClouds = r.topology.gateways.some((g) => g.provider !== "local");
  const ttl = dataplaneTtlMinutes(
    { ttlMinutes: r.ttlMinutes, keepWarmSeconds: warm },
    onClouds ? CLOUD_TTL_MINUTES : LOCAL_TTL_MINUTES,
  );
  settings["skyplane:leaseSeconds"] = String(r.leaseSeconds);
  if (ttl !== undefined) settings["skyplane:ttlMinutes"] = String(ttl);
  else remove.push("skyplane:ttlMinutes");
  if (r.network) settings["skyplane:network"] = JSON.stringify(r.network);
  else remove.push("skyplane:network");
  if (onClouds) {
    // Everything a cloud needs is checked here, before anything is created, each gap with its fix.
    const cloud = resolveCloudSettings(r.topology, stackName, {
      stack: config["skyplane:cloud"] ? JSON.parse(config["skyplane:cloud"]) : undefined,
      env: r.env,
      client: ttl !== undefined ? { ...r.cloud, ttlMinutes: ttl } : r.cloud,
      jobs: r.jobs,
      now: r.now,
    });
    await requireProviderPlugins(r.topology, () => stack.workspace.listPlugins(), {
      pulumiHome: engine.home.pulumiHome,
      cli: engine.cli,
    });
    settings["skyplane:cloud"] = JSON.stringify(cloud);
  }
  await engine.updateConfig(stack, settings, remove);
  // Whatever happens next, the record no longer describes the gateways: written again once they answer.
  removeRouteRecord(r.home, stackName);
  let gateways: ProvisionedGateway[] | undefined;
  try {
    // The guardrails (policy/) are enforced on every provision: a violation stops it before it is made.
    gateways = await engine.up(
      stack,
      { token, key, storeEnv: stores },
      { refresh: resources === undefined || resources > 0, onOutput: r.onOutput },
    );
  } catch (err) {
    const locked = lockedError(engine.home.state, stackName, engine.isConcurrentUpdate(err));
    if (locked) throw locked;
    // The guardrails refused a resource (engine.ts, guardrailsTransform): say which and why.
    const refused = (err as Error).message.match(
      /\S+ \S+ breaks skyplane's guardrails:(\n {2}.*)+/,
    );
    if (refused) {
      throw new UserError(
        "POLICY_VIOLATION",
        `provisioning stack ${stackName} stopped: ${redact(refused[0], [token, key])}\n` +
          `Change what the job asks for; 'skyplane deprovision -y ${stackName}' removes anything created before.`,
      );
    }
    // The engine masks secrets in what it prints, but a gateway's log tail may be quoted too.
    const tail = (err as Error).message.split("\n").slice(-12).join("\n");
    const quoted = redact(tail, [token, key, ...storeSecrets(stores)]);
    throw new SkyplaneError(
      "PROVISION_FAILED",
      `provisioning stack ${stackName} failed: ${quoted}\n` +
        `Gateway logs are in ${r.logDir}/${stackName}; 'skyplane deprovision -y ${stackName}' removes what was created.`,
      // No cause: the engine's own error may quote credentials, and SKYPLANE_DEBUG prints causes.
    );
  }
  if (!gateways?.length) {
    throw new SkyplaneError(
      "PROVISION_FAILED",
      `provisioning stack ${stackName} reported no gateways; 'skyplane deprovision -y ${stackName}' removes what was created`,
    );
  }
  await Promise.all(
    gateways.map(async (g) => {
      const c = gatewayClient(g, token);
      try {
        await c.status();
      } catch (err) {
        // A gateway that the engine saw start but that does not answer has said why in its log.
        const tail = logTail(g.logFile);
        if (!(err instanceof GatewayUnreachableError) || !tail) throw err;
        throw new GatewayUnreachableError(
          g.id,
          `${err.message}; the end of its log (${g.logFile}):\n${redact(tail, [token, key])}`,
        );
      } finally {
        c.close();
      }
    }),
  );
  const kept =
    settings["skyplane:expireAt"] ?? (warm > 0 ? config["skyplane:expireAt"] : undefined);
  await writeRouteRecord(
    r.home,
    {
      version: 1,
      stack: stackName,
      digest: r.digest,
      plan: r.plan,
      gateways,
      granted: r.grants,
      ...(kept !== undefined && { expireAt: Number(kept) }),
      since: new Date(r.now).toISOString(),
    },
    { token, key, storeEnv: storeEnvDigest(stores) },
    r.env,
  );
  return { stack, gateways, token, ...(kept !== undefined && { expireAt: Number(kept) }) };
}

/** The values of the store variables that are secrets (keys, tokens, connection strings). */
export function storeSecrets(stores: Record<string, string>): string[] {
  return Object.entries(stores)
    .filter(([name]) => /SECRET|KEY|TOKEN|PASSWORD|CONNECTION_STRING/.test(name))
    .map(([, value]) => value);
}

/** A control-API client of one gateway. */
export function gatewayClient(
  g: ProvisionedGateway,
  token: string,
  timeoutMs?: number,
): GatewayClient {
  return new GatewayClient(
    { gatewayId: g.id, host: g.host, controlPort: g.controlPort },
    token,
    timeoutMs,
  );
}

/** How long a probe waits for each gateway: a live one answers at once, even across clouds. */
const PROBE_TIMEOUT_MS = 3000;

/**
 * Asks every gateway for its status with `token`: undefined when each answers as itself, else why not
 * (`gateway-gone`: no answer, or another gateway; `token-mismatch`: it holds another token).
 */
export async function probeGateways(
  gateways: readonly ProvisionedGateway[],
  token: string,
): Promise<EngineReason | undefined> {
  const clients = gateways.map((g) => gatewayClient(g, token, PROBE_TIMEOUT_MS));
  try {
    const answers = await Promise.allSettled(clients.map((c) => c.status()));
    for (const [i, answer] of answers.entries()) {
      if (answer.status === "rejected") {
        const err = answer.reason as SkyplaneError;
        const refused =
          err.code === "GATEWAY_AUTH" ||
          (err.code === "GATEWAY_ERROR" && / 40[13] /.test(err.message));
        return refused ? "token-mismatch" : "gateway-gone";
      }
      if (answer.value.gatewayId !== gateways[i].id) return "gateway-gone";
    }
    return undefined;
  } finally {
    for (const c of clients) c.close();
  }
}

/** The last lines of a local gateway's log, or undefined when there is none here (a cloud's). */
export function logTail(file: string, lines = 12): string | undefined {
  let text: string;
  try {
    const fd = fs.openSync(file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(size, 16 * 1024));
      fs.readSync(fd, buf, 0, buf.length, size - buf.length);
      text = buf.toString("utf8");
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const tail = text.trimEnd().split("\n").slice(-lines).join("\n");
  return tail || undefined;
}
