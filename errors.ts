/*
 * The one root of skyplane's errors and the one table of their codes. Every error skyplane throws is a
 * `SkyplaneError` whose `code` is a key of `ERRORS`; the table says whether the user can fix it and with
 * which status `skyplane` exits. A user error's message says what to do next; an internal one is a bug or
 * a failure below us (engine, cloud, network), and `SKYPLANE_DEBUG=1` shows its causes and stack.
 * Only the CLI formats and colours errors; the library throws them. (Components also throw Pulumi's
 * `InputPropertyError`/`ResourceError`, which the engine shows pointing at the input.)
 * This module imports nothing of ours: every folder may import it.
 */

/** Exit statuses of the `skyplane` command. Scripts match on them: never renumber one. */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** The user's to fix: bad arguments, missing engine, buckets or credentials. */
  USER: 1,
  /** An internal error: a bug or an engine failure; `SKYPLANE_DEBUG=1` shows its causes. */
  INTERNAL: 2,
  /** The transfer failed (a gateway died, chunks failed); nothing partial is left at the destination. */
  TRANSFER: 3,
  /** Interrupted (Ctrl-C, SIGTERM): the transfer stopped, its uploads aborted, the gateways released. */
  INTERRUPTED: 130,
} as const;

/** One of `EXIT`'s statuses. */
export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

/** What the table says of one code. */
export interface ErrorSpec {
  /** The status `skyplane` exits with when this error ends it. */
  readonly exit: ExitStatus;
  /** `user`: the user can fix it and the message says how; `internal`: a bug or a failure below us. */
  readonly kind: "user" | "internal";
}

const USER = { exit: EXIT.USER, kind: "user" } as const;
const INTERNAL = { exit: EXIT.INTERNAL, kind: "internal" } as const;
/** A transfer that failed on the way (and left nothing partial): running it again may succeed. */
const TRANSFER = { exit: EXIT.TRANSFER, kind: "internal" } as const;

/** Every error code skyplane throws: code → exit status and kind. */
export const ERRORS = {
  // Arguments, URIs, regions and the files a user hands in.
  USAGE: USER, // the command line does not parse
  INVALID_URI: USER,
  INVALID_KEY: USER, // a key the destination cannot hold, or a link out of a destination folder
  UNKNOWN_REGION: USER,
  BAD_REGION: USER,
  NO_REGION: USER,
  BAD_PLAN: USER, // a plan that cannot be made as asked (objective, quotas, gateway counts)
  BAD_TOPOLOGY: USER, // a topology (a stack's config) whose gateways or sends do not fit together
  BAD_TABLE: USER, // a throughput grid or price matrix
  BAD_PROFILE: USER, // a network profile
  BAD_MAP: USER,
  BAD_LEASE: USER,
  BAD_PART_SIZE: USER,
  UNREADABLE: USER, // a file named on the command line
  UNWRITABLE: USER,
  NEEDS_CONFIRMATION: USER, // no terminal to confirm on, and no -y
  UNSUPPORTED: USER,
  // Stores: buckets, objects, credentials.
  NO_SUCH_BUCKET: USER,
  NO_SUCH_KEY: USER,
  NO_SUCH_OBJECT: USER,
  NO_CREDENTIALS: USER,
  ACCESS_DENIED: USER,
  CONFLICT: USER, // a bucket that exists elsewhere
  OBJECT_TOO_LARGE: USER,
  NOTHING_TO_COPY: USER,
  NOTHING_TO_VERIFY: USER,
  OVERLAP: USER, // source and destination inside one another
  // Routes, stacks and the engine.
  MIXED_ROUTE: USER,
  WRONG_ROUTE: USER,
  MISSING_CLOUD_SETTINGS: USER,
  MISSING_PEERS: USER, // a component's gateways send to another cloud's, whose addresses it lacks
  TOO_MANY_REGIONS: USER,
  TOO_MANY_GATEWAYS: USER,
  NOT_PROVISIONED: USER,
  NO_SUCH_STACK: USER,
  STACK_LOCKED: USER,
  ROUTE_BUSY: USER,
  ENGINE_NOT_FOUND: USER,
  ENGINE_INCOMPLETE: USER,
  ENGINE_CHECK_FAILED: USER,
  PROVIDER_PLUGIN_MISSING: USER,
  EMPTY_PASSPHRASE: USER,
  EMULATORS_MISSING: USER,
  INTERRUPTED: { exit: EXIT.INTERRUPTED, kind: "user" }, // Ctrl-C or SIGTERM: the user asked for it
  // A transfer that failed and left nothing partial: run it again.
  TRANSFER_FAILED: TRANSFER,
  GATEWAY_UNREACHABLE: TRANSFER,
  SOURCE_CHANGED: TRANSFER, // a source object changed while it was read
  // The Python package and `skyplane rpc --stdio`, its Node side (python/PROTOCOL.md).
  BAD_MESSAGE: USER, // a protocol message that is not JSON, over 1 MiB, or no request the server knows
  NODE_SIDE_NOT_FOUND: USER, // the Python package cannot find the Node side to start
  NODE_SIDE_GONE: INTERNAL, // the Node side ended, or fell silent, under the Python package
  // Internal: the engine, gateways and processes below us.
  ENGINE_FAILED: INTERNAL,
  PROVISION_FAILED: INTERNAL,
  NO_PROJECT: INTERNAL, // this package lost its Pulumi.yaml
  NO_GATEWAYS: INTERNAL,
  CLOUD_NOT_REGISTERED: INTERNAL, // a cloud's components were never loaded
  UNSORTED_LISTING: INTERNAL, // a store adapter that lists out of key order
  GATEWAY_AUTH: INTERNAL,
  GATEWAY_ERROR: INTERNAL,
  PROC_UNREADABLE: INTERNAL, // /proc said something we cannot parse
  EMULATOR_FAILED: INTERNAL,
  BAD_BOOT_SPEC: INTERNAL, // a gateway's boot spec the renderer refuses (a bad hash, port or address)
  BUNDLE_MISSING: USER, // no gateway bundle built, and no way to build one here
  BUNDLE_BUILD_FAILED: INTERNAL,
  // Internal: stores asked for what they cannot do (a bug, or an upload removed under us).
  NO_SUCH_UPLOAD: INTERNAL,
  INVALID_PART: INTERNAL,
  INVALID_ARGUMENT: INTERNAL,
  CHECKSUM_MISMATCH: INTERNAL,
  // Internal: inside a gateway (its log says more; the runner sees a failed chunk).
  BAD_PROGRAM: INTERNAL, // a gateway program that does not parse
  BAD_CHUNK_REQUEST: INTERNAL,
  BUCKET_NOT_IN_PROGRAM: INTERNAL,
  KEY_OUTSIDE_BUCKET: INTERNAL,
  NOT_A_SOURCE: INTERNAL,
  NO_KEY: INTERNAL, // a program that encrypts, on a gateway without the key
  WIRE_PROTOCOL: INTERNAL, // a frame or ack that is malformed, forged or from a stranger
  CONTROL_REFUSED: INTERNAL, // the control API refused a request (the HTTP status says why)
  PEER_UNREACHABLE: INTERNAL,
  CONNECTION_CLOSED: INTERNAL,
  SEND_POOL_CLOSED: INTERNAL,
  CHUNK_FAILED: INTERNAL,
  // Internal: an invariant of our own code broke.
  PLANNER_INVARIANT: INTERNAL,
  BOOT_SCRIPT_TOO_LARGE: INTERNAL, // a gateway's boot script over what its cloud takes, even compressed
  UNREACHABLE: INTERNAL, // a `never` that was reached
} as const satisfies Record<string, ErrorSpec>;

/** A code of the table. */
export type ErrorCode = keyof typeof ERRORS;

/** The codes of errors the user can fix. */
export type UserErrorCode = {
  [C in ErrorCode]: (typeof ERRORS)[C]["kind"] extends "user" ? C : never;
}[ErrorCode];

/** The codes of internal errors. */
export type InternalErrorCode = Exclude<ErrorCode, UserErrorCode>;

/** The root of every error skyplane throws; `code` is stable: scripts and callers match on it. */
export class SkyplaneError<C extends ErrorCode = ErrorCode> extends Error {
  /** Stable machine-readable code, a key of `ERRORS`, e.g. `ENGINE_NOT_FOUND`. */
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** The status `skyplane` exits with when this error ends it. */
  get exitStatus(): ExitStatus {
    return ERRORS[this.code].exit;
  }

  /** True when the user can fix it (the message says how); false for bugs and failures below us. */
  get userFixable(): boolean {
    return ERRORS[this.code].kind === "user";
  }
}

/** An error caused by the user's input or environment; its message says how to fix it. */
export class UserError extends SkyplaneError<UserErrorCode> {}

/** An error inside skyplane or its engine. */
export class InternalError extends SkyplaneError<InternalErrorCode> {}

/** True when `err` is a skyplane error that the user can fix (by its code, whatever its class). */
export function isUserError(err: unknown): err is SkyplaneError<UserErrorCode> {
  return err instanceof SkyplaneError && err.userFixable;
}
