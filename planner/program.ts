import { SkyplaneError, UserError } from "../errors";
/*
 * GatewayProgram: what one gateway does with each chunk, as a tree of operators. The planner emits one
 * per gateway; the gateway daemon executes it. Versioned: a daemon refuses a version it does not know.
 *
 *   source:  read_object_store → send            (or → mux_or of sends to several gateways)
 *   relay:   receive → send
 *   dest:    receive → write_object_store        (or → mux_and of writes / sends: multicast)
 */

/** The version of the program format this code reads and writes. */
export const GATEWAY_PROGRAM_VERSION = 1;

/** A gateway named by id, in a topology whose addresses are not known until it is provisioned. */
export interface GatewayRef {
  /** The gateway's id, used in errors and logs. */
  readonly gatewayId: string;
}

/** Where a gateway accepts data connections. */
export interface GatewayAddress extends GatewayRef {
  /** Host name or IP of its data port. */
  readonly host: string;
  /** TCP port of its data server. */
  readonly port: number;
}

/** Compression of chunks on the wire. */
export type Compression = "none" | "zstd";

/** Reads each requested chunk from a bucket, then hands it on. Root of a source gateway's program. */
export interface ReadObjectStoreOp<T extends GatewayRef = GatewayAddress> {
  readonly op: "read_object_store";
  /** Bucket URI, e.g. `local://src`; default: the chunk request's `srcBucket` (one dataplane, many jobs). */
  readonly bucket?: string;
  /**
   * The only bucket URIs a request's `srcBucket` may name besides `bucket`, granted when the dataplane
   * is provisioned (the queued jobs' sources); a request naming any other is refused.
   */
  readonly buckets?: readonly string[];
  /** What gets the chunks. */
  readonly next: Operator<T>;
}

/** Writes each chunk to a bucket (a part of a multipart upload, or a whole object). A leaf. */
export interface WriteObjectStoreOp {
  readonly op: "write_object_store";
  /** Bucket URI, e.g. `local://dst`; default: the chunk request's bucket for this gateway's region. */
  readonly bucket?: string;
  /**
   * The only bucket URIs a request's `dstBuckets` may name besides `bucket`, granted when the dataplane
   * is provisioned (the queued jobs' destinations); a request naming any other is refused.
   */
  readonly buckets?: readonly string[];
}

/** Sends each chunk to another gateway over `connections` parallel TCP connections. A leaf. */
export interface SendOp<T extends GatewayRef = GatewayAddress> {
  readonly op: "send";
  /** The receiving gateway. */
  readonly target: T;
  /** Parallel TCP connections. */
  readonly connections: number;
  /** Compression on the wire; skipped for chunks that do not shrink. */
  readonly compress: Compression;
  /** AES-256-GCM under the dataplane's key. */
  readonly encrypt: boolean;
}

/** Accepts chunks from other gateways' `send`, then hands them on. Root of relay and destination programs. */
export interface ReceiveOp<T extends GatewayRef = GatewayAddress> {
  readonly op: "receive";
  /** Every frame must be encrypted (its senders' `encrypt`); default: when the gateway has a key. */
  readonly encrypted?: boolean;
  /** What gets the chunks. */
  readonly next: Operator<T>;
}

/** Every child gets every chunk (several destinations). */
export interface MuxAndOp<T extends GatewayRef = GatewayAddress> {
  readonly op: "mux_and";
  /** The branches. */
  readonly children: readonly Operator<T>[];
}

/** Each chunk goes to one child (several gateways of a region share the load). */
export interface MuxOrOp<T extends GatewayRef = GatewayAddress> {
  readonly op: "mux_or";
  /** The branches. */
  readonly children: readonly Operator<T>[];
  /** Relative share of chunks per child (the planned Gbit/s of each path); default equal. */
  readonly weights?: readonly number[];
}

/**
 * One operator of a gateway program. `T` is how send targets are named: addresses in a running
 * dataplane, bare gateway ids in a topology (before anything is provisioned).
 */
export type Operator<T extends GatewayRef = GatewayAddress> =
  ReadObjectStoreOp<T> | WriteObjectStoreOp | SendOp<T> | ReceiveOp<T> | MuxAndOp<T> | MuxOrOp<T>;

/** Everything one gateway runs. */
export interface GatewayProgram<T extends GatewayRef = GatewayAddress> {
  /** Format version, GATEWAY_PROGRAM_VERSION. */
  readonly version: typeof GATEWAY_PROGRAM_VERSION;
  /** This gateway's id. */
  readonly gatewayId: string;
  /** Its region, e.g. `local:east`. */
  readonly region: string;
  /** Root operators: at most one `read_object_store` and at most one `receive`. */
  readonly operators: readonly Operator<T>[];
}

/** Calls `fn` for every `send` operator below `op`, depth first. */
function forEachSend<T extends GatewayRef>(op: Operator<T>, fn: (send: SendOp<T>) => void): void {
  switch (op.op) {
    case "send":
      fn(op);
      break;
    case "read_object_store":
    case "receive":
      forEachSend(op.next, fn);
      break;
    case "mux_and":
    case "mux_or":
      for (const child of op.children) forEachSend(child, fn);
      break;
    case "write_object_store":
      break;
    default: {
      const never: never = op;
      throw new SkyplaneError("UNREACHABLE", `unknown operator ${JSON.stringify(never)}`);
    }
  }
}

/** The gateways a program sends to, by id. */
export function sendTargets<T extends GatewayRef>(program: GatewayProgram<T>): string[] {
  const out = new Set<string>();
  for (const op of program.operators) forEachSend(op, (send) => out.add(send.target.gatewayId));
  return [...out].sort();
}

/** A program with every send target given its address (from provisioning). */
export function bindProgram(
  program: GatewayProgram<GatewayRef>,
  addresses: Readonly<Record<string, { host: string; port: number }>>,
): GatewayProgram {
  const bind = (op: Operator<GatewayRef>): Operator => {
    switch (op.op) {
      case "send": {
        const address = addresses[op.target.gatewayId];
        if (!address)
          throw new UserError("MISSING_PEERS", `no address for gateway ${op.target.gatewayId}`);
        return {
          ...op,
          target: { gatewayId: op.target.gatewayId, host: address.host, port: address.port },
        };
      }
      case "read_object_store":
      case "receive":
        return { ...op, next: bind(op.next) };
      case "mux_and":
      case "mux_or":
        return { ...op, children: op.children.map(bind) };
      case "write_object_store":
        return op;
      default: {
        const never: never = op;
        throw new SkyplaneError("UNREACHABLE", `unknown operator ${JSON.stringify(never)}`);
      }
    }
  };
  return { ...program, operators: program.operators.map(bind) };
}

/** What a dataplane's gateways may touch, granted when it is provisioned. */
export interface BucketGrants {
  /** Bucket URIs its sources may read. */
  readonly read: readonly string[];
  /** Bucket URIs its destinations may write. */
  readonly write: readonly string[];
}

/**
 * A program with its grants: every read and write operator may name the `grants` buckets, and its
 * `receive` requires encryption when `encryptedInbound` (any sender to it encrypts).
 */
export function grantProgram<T extends GatewayRef>(
  program: GatewayProgram<T>,
  grants: BucketGrants,
  encryptedInbound: boolean,
): GatewayProgram<T> {
  const grant = (op: Operator<T>): Operator<T> => {
    switch (op.op) {
      case "read_object_store":
        return { ...op, buckets: [...grants.read].sort(), next: grant(op.next) };
      case "write_object_store":
        return { ...op, buckets: [...grants.write].sort() };
      case "receive":
        return { ...op, encrypted: encryptedInbound, next: grant(op.next) };
      case "mux_and":
      case "mux_or":
        return { ...op, children: op.children.map(grant) };
      case "send":
        return op;
      default: {
        const never: never = op;
        throw new SkyplaneError("UNREACHABLE", `unknown operator ${JSON.stringify(never)}`);
      }
    }
  };
  return { ...program, operators: program.operators.map(grant) };
}

/** Whether each send of `programs` encrypts, by target gateway id (true when any sender to it does). */
export function encryptedInbound<T extends GatewayRef>(
  programs: readonly GatewayProgram<T>[],
): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const p of programs)
    for (const op of p.operators)
      forEachSend(op, (send) => {
        const id = send.target.gatewayId;
        out[id] = (out[id] ?? false) || send.encrypt;
      });
  return out;
}

/** A request to move one chunk: a whole object, or one part of a large object. */
export interface ChunkRequest {
  /** Unique id: 32 lowercase hex digits. */
  readonly id: string;
  /** Source bucket URI, for programs whose read operator names none. */
  readonly srcBucket?: string;
  /** Destination bucket URI per destination region, for programs whose write operator names none. */
  readonly dstBuckets?: Readonly<Record<string, string>>;
  /** Key to read at the source. */
  readonly srcKey: string;
  /** Key to write at the destination(s). */
  readonly dstKey: string;
  /** First byte of the chunk in the source object. */
  readonly offset: number;
  /** Bytes in the chunk (0 for an empty object). */
  readonly length: number;
  /** Size of the whole source object. */
  readonly objectSize: number;
  /** Permission bits of the source object, for destinations that keep them (local buckets). */
  readonly mode?: number;
  /**
   * Hashes the source gateway computes of the bytes it read and reports with the chunk's outcome, so
   * that the runner can predict the destination store's own hashes (`stores/hashes.ts`).
   */
  readonly hashes?: ReadonlyArray<"crc32" | "crc32c" | "md5">;
  /**
   * What the source gateway took of the bytes it read, in the algorithms of `hashes` (lowercase hex),
   * set by that gateway on the chunk it sends on; a runner's is dropped. A destination gateway hands
   * them to its store with the bytes (S3's Content-MD5, …), so that the store checks what it receives
   * against what was read, end to end, and the destination does not hash the bytes again.
   */
  readonly readHashes?: Readonly<Partial<Record<"crc32" | "crc32c" | "md5", string>>>;
  /** Present when the chunk is one part of a multipart upload. */
  readonly part?: {
    /** 1-based part number. */
    readonly number: number;
    /** Upload id at each destination bucket URI. */
    readonly uploadIds: Readonly<Record<string, string>>;
  };
}

/** Throws an Error naming the first thing wrong with `value` as a GatewayProgram; returns it typed. */
export function parseGatewayProgram(value: unknown): GatewayProgram {
  const p = value as GatewayProgram;
  if (typeof p !== "object" || p === null)
    throw new SkyplaneError("BAD_PROGRAM", "a gateway program must be an object");
  if (p.version !== GATEWAY_PROGRAM_VERSION) {
    throw new SkyplaneError(
      "BAD_PROGRAM",
      `gateway program version ${String(p.version)} is not ${GATEWAY_PROGRAM_VERSION}`,
    );
  }
  if (typeof p.gatewayId !== "string" || !p.gatewayId)
    throw new SkyplaneError("BAD_PROGRAM", "gatewayId: required");
  if (typeof p.region !== "string" || !p.region)
    throw new SkyplaneError("BAD_PROGRAM", "region: required");
  if (!Array.isArray(p.operators))
    throw new SkyplaneError("BAD_PROGRAM", "operators: must be a list");
  const roots = p.operators.map((op, i) => checkOperator(op, `operators[${i}]`));
  for (const kind of ["read_object_store", "receive"] as const) {
    if (roots.filter((r) => r === kind).length > 1)
      throw new SkyplaneError("BAD_PROGRAM", `operators: more than one ${kind}`);
  }
  if (roots.some((r) => r !== "read_object_store" && r !== "receive")) {
    throw new SkyplaneError("BAD_PROGRAM", "operators: roots must be read_object_store or receive");
  }
  return p;
}

function checkOperator(op: Operator, at: string): Operator["op"] {
  if (typeof op !== "object" || op === null)
    throw new SkyplaneError("BAD_PROGRAM", `${at}: must be an object`);
  switch (op.op) {
    case "read_object_store":
    case "write_object_store":
      if (
        op.bucket !== undefined &&
        (typeof op.bucket !== "string" || !op.bucket.includes("://"))
      ) {
        throw new SkyplaneError("BAD_PROGRAM", `${at}.bucket: must be a bucket URI`);
      }
      if (
        op.buckets !== undefined &&
        (!Array.isArray(op.buckets) ||
          op.buckets.some((b) => typeof b !== "string" || !b.includes("://")))
      ) {
        throw new SkyplaneError("BAD_PROGRAM", `${at}.buckets: must be a list of bucket URIs`);
      }
      if (op.op === "read_object_store") checkOperator(op.next, `${at}.next`);
      break;
    case "receive":
      if (op.encrypted !== undefined && typeof op.encrypted !== "boolean")
        throw new SkyplaneError("BAD_PROGRAM", `${at}.encrypted: must be true or false`);
      checkOperator(op.next, `${at}.next`);
      break;
    case "send":
      if (!Number.isInteger(op.connections) || op.connections < 1 || op.connections > 256) {
        throw new SkyplaneError("BAD_PROGRAM", `${at}.connections: must be 1 to 256`);
      }
      if (op.compress !== "none" && op.compress !== "zstd")
        throw new SkyplaneError("BAD_PROGRAM", `${at}.compress: none or zstd`);
      if (typeof op.encrypt !== "boolean")
        throw new SkyplaneError("BAD_PROGRAM", `${at}.encrypt: must be true or false`);
      if (
        typeof op.target?.host !== "string" ||
        !Number.isInteger(op.target.port) ||
        op.target.port < 1 ||
        op.target.port > 65535 ||
        typeof op.target.gatewayId !== "string"
      ) {
        throw new SkyplaneError("BAD_PROGRAM", `${at}.target: needs gatewayId, host and port`);
      }
      break;
    case "mux_and":
    case "mux_or":
      if (
        op.op === "mux_or" &&
        op.weights !== undefined &&
        (!Array.isArray(op.weights) ||
          op.weights.length !== op.children?.length ||
          op.weights.some((w) => !(w > 0)))
      ) {
        throw new SkyplaneError("BAD_PROGRAM", `${at}.weights: one positive weight per child`);
      }
      if (!Array.isArray(op.children) || op.children.length === 0) {
        throw new SkyplaneError("BAD_PROGRAM", `${at}.children: must be a non-empty list`);
      }
      op.children.forEach((c, i) => checkOperator(c, `${at}.children[${i}]`));
      break;
    default: {
      const never: never = op;
      throw new SkyplaneError(
        "BAD_PROGRAM",
        `${at}.op: unknown operator ${JSON.stringify((never as { op: unknown }).op)}`,
      );
    }
  }
  return op.op;
}
