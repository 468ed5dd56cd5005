import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { homeLayout } from "../common/paths";
import type { BucketGrants } from "../planner/program";
import type { ProvisionedGateway } from "../planner/topology";
import { privateDir, stackPassphrase } from "./home";

/*
 * What the runner keeps of a route's live gateways: `<home>/routes/<stack>.json`, written under the
 * route's lock after every `up` that succeeded and removed by every destroy. A later job on the route
 * reads it instead of running the engine: a warm route's gateways are used as they are when the record
 * says they fit (the same topology, its buckets granted, the same store environment, expiry far enough
 * off) and every one of them answers its control API with the record's token. Anything else goes
 * through the engine (`up`), which writes the record anew.
 *
 * The file is owner-only in an owner-only folder, and what is secret in it (the dataplane's token and
 * key, and a digest of the store credentials the gateways were given) is sealed with AES-256-GCM under a
 * key derived (scrypt) from the stack passphrase: at rest it is as safe as the stack config that held
 * the token and key before.
 */

/** A route's live gateways as the runner recorded them (the parts that are not secret). */
export interface RouteRecord {
  /** Format version. */
  readonly version: 1;
  /** The route's stack. */
  readonly stack: string;
  /** `topologyDigest` of the topology and network profile the gateways run (the leases' digest). */
  readonly digest: string;
  /** The topology in a few words, for `skyplane stacks`. */
  readonly plan: string;
  /** The gateways, as the stack's outputs list them. */
  readonly gateways: readonly ProvisionedGateway[];
  /** The buckets the gateways may touch. */
  readonly granted: BucketGrants;
  /** Epoch ms at which a keep-warm route's gateways exit on their own; absent: not kept warm. */
  readonly expireAt?: number;
  /** When it was written (ISO 8601). */
  readonly since: string;
}

/** What the record keeps sealed. */
export interface RouteSecrets {
  /** The dataplane token the gateways hold. */
  readonly token: string;
  /** The dataplane key (base64) the gateways hold. */
  readonly key: string;
  /** `storeEnvDigest` of the store environment the gateways were given. */
  readonly storeEnv: string;
}

/** The sealed part as stored: scrypt salt, GCM nonce and tag, ciphertext (base64 each). */
interface Sealed {
  readonly salt: string;
  readonly iv: string;
  readonly tag: string;
  readonly data: string;
}

/** scrypt's cost: 16 MiB and a few tens of milliseconds, once per record read or written. */
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 << 20 } as const;
const scrypt = promisify(crypto.scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

/** The record file of `stack` in `home`. */
export function routeRecordFile(home: string, stack: string): string {
  return path.join(homeLayout(home).routes, `${stack}.json`);
}

/** A digest of the store environment handed to gateways (compared, never shown). */
export function storeEnvDigest(env: Record<string, string>): string {
  const sorted = Object.keys(env)
    .sort()
    .map((k) => [k, env[k]]);
  return crypto.createHash("sha256").update(JSON.stringify(sorted)).digest("hex");
}

/** Writes the record of a route's gateways (atomically, owner-only), sealing `secrets`. */
export async function writeRouteRecord(
  home: string,
  record: RouteRecord,
  secrets: RouteSecrets,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const layout = homeLayout(home);
  privateDir(layout.routes);
  const salt = crypto.randomBytes(16);
  const iv = crypto.randomBytes(12);
  const key = await scrypt(stackPassphrase(layout, env), salt, 32, SCRYPT);
  const cipher = crypto.createCipheriv("aes-256-gcm", key, iv);
  // The stack name is authenticated with it: a record copied onto another route does not open.
  cipher.setAAD(Buffer.from(record.stack));
  const data = Buffer.concat([cipher.update(JSON.stringify(secrets), "utf8"), cipher.final()]);
  const sealed: Sealed = {
    salt: salt.toString("base64"),
    iv: iv.toString("base64"),
    tag: cipher.getAuthTag().toString("base64"),
    data: data.toString("base64"),
  };
  const file = routeRecordFile(home, record.stack);
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
  fs.writeFileSync(tmp, JSON.stringify({ ...record, sealed }), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** The record of `stack`, without its secrets (`skyplane stacks`); undefined if there is none. */
export function peekRouteRecord(home: string, stack: string): RouteRecord | undefined {
  let stored: RouteRecord & { sealed?: Sealed };
  try {
    stored = JSON.parse(fs.readFileSync(routeRecordFile(home, stack), "utf8"));
  } catch {
    return undefined; // none, or not readable: as good as none (the engine path rewrites it)
  }
  if (stored.version !== 1 || stored.stack !== stack || !Array.isArray(stored.gateways))
    return undefined;
  const { sealed: _sealed, ...record } = stored;
  return record;
}

/**
 * The record of `stack` with its secrets, or undefined when there is none or it cannot be opened (written
 * under another passphrase, or altered): a job then goes through the engine, which writes it anew.
 */
export async function readRouteRecord(
  home: string,
  stack: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ record: RouteRecord; secrets: RouteSecrets } | undefined> {
  let sealed: Sealed | undefined;
  try {
    sealed = JSON.parse(fs.readFileSync(routeRecordFile(home, stack), "utf8")).sealed;
  } catch {
    return undefined;
  }
  const record = peekRouteRecord(home, stack);
  if (!record || !sealed) return undefined;
  try {
    const key = await scrypt(
      stackPassphrase(homeLayout(home), env),
      Buffer.from(sealed.salt, "base64"),
      32,
      SCRYPT,
    );
    const decipher = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(sealed.iv, "base64"));
    decipher.setAAD(Buffer.from(stack));
    decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
    const text = Buffer.concat([
      decipher.update(Buffer.from(sealed.data, "base64")),
      decipher.final(),
    ]).toString("utf8");
    return { record, secrets: JSON.parse(text) as RouteSecrets };
  } catch {
    return undefined;
  }
}

/** Removes the record of `stack` (its gateways are gone or about to be replaced). */
export function removeRouteRecord(home: string, stack: string): void {
  fs.rmSync(routeRecordFile(home, stack), { force: true });
}

/** Why a job went through the engine rather than use a route's recorded gateways as they are. */
export type EngineReason =
  | "not-warm" // the job does not keep its route warm: its gateways are its own
  | "no-record" // nothing recorded: no gateways up (a cold route), or not by this home's runner
  | "not-kept-warm" // the recorded gateways were not kept warm
  | "topology-changed" // they run another topology or network profile
  | "expiry-near" // they end too soon for this job
  | "buckets-not-granted" // they may not touch a bucket the job needs (granting restarts them)
  | "store-env-changed" // they were given other store endpoints or credentials
  | "gateway-gone" // one of them does not answer
  | "token-mismatch"; // one of them answers with another dataplane's token

/** Each reason in words, for messages and `--json` output. */
export const ENGINE_REASONS: Record<EngineReason, string> = {
  "not-warm": "the job does not keep its route warm",
  "no-record": "no gateways are recorded for the route",
  "not-kept-warm": "the route's gateways were not kept warm",
  "topology-changed": "the route's gateways run another topology",
  "expiry-near": "the route's warm period ends too soon",
  "buckets-not-granted": "the route's gateways are not granted the job's buckets",
  "store-env-changed": "the store endpoints or credentials changed",
  "gateway-gone": "a gateway of the route does not answer",
  "token-mismatch": "a gateway of the route holds another token",
};

/** What a job needs of a route's recorded gateways to use them as they are. */
export interface WarmNeeds {
  /** `topologyDigest` of its topology and network profile. */
  readonly digest: string;
  /** The buckets it reads and writes. */
  readonly buckets: BucketGrants;
  /** `storeEnvDigest` of its store environment. */
  readonly storeEnv: string;
  /** Now, epoch ms. */
  readonly now: number;
  /** How long before their expiry the gateways must still be up for it, ms. */
  readonly marginMs: number;
}

/**
 * Whether a record's gateways fit a job, as far as the record tells (whether they answer is the
 * caller's to ask): undefined when they do, else why not.
 */
export function warmMisfit(
  found: { record: RouteRecord; secrets: RouteSecrets } | undefined,
  needs: WarmNeeds,
): EngineReason | undefined {
  if (!found) return "no-record";
  const { record, secrets } = found;
  if (record.expireAt === undefined) return "not-kept-warm";
  if (record.digest !== needs.digest) return "topology-changed";
  if (record.expireAt - needs.now < needs.marginMs) return "expiry-near";
  const granted = record.granted;
  const covered =
    needs.buckets.read.every((b) => granted.read.includes(b)) &&
    needs.buckets.write.every((b) => granted.write.includes(b));
  if (!covered) return "buckets-not-granted";
  if (secrets.storeEnv !== needs.storeEnv) return "store-env-changed";
  return undefined;
}
