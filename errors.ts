/**
 * The one root of skyplane's errors. Every error carries a stable `code` that scripts can match on.
 * A `UserError` is the user's to fix (bad arguments, missing buckets or credentials, quotas) and its
 * message says what to do next; anything else is internal and says where the logs are.
 * Only the CLI formats and colours errors; the library throws them.
 */
export class SkyplaneError extends Error {
  /** Stable machine-readable code, e.g. `ENGINE_NOT_FOUND`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An error caused by the user's input or environment; its message says how to fix it. */
export class UserError extends SkyplaneError {}

/** An error inside skyplane or its engine; its message says where to find the logs. */
export class InternalError extends SkyplaneError {}

/** True when `err` is a skyplane error that the user can fix. */
export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}
