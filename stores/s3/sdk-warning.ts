import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";

/*
 * The AWS SDK warns, on the first client a process makes, that its releases after January 2027 will need
 * Node 22: eight lines on stderr on every command that touches S3. skyplane supports Node 20 until then
 * (package.json `engines`), so the warning is held back where the clients are made and shown where the
 * user asks about the machine (`skyplane check`) and in gateways' logs; every other warning goes through.
 * The SDK's own switch (AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED) is not used: it would reach
 * every process started from here and a library user's own clients.
 */

/** The warning held back: the SDK names it in its text, which is all `process.emitWarning` is given. */
const NODE_VERSION_WARNING = /^NodeVersionSupportWarning\b/;

const held: string[] = [];
const listeners: Array<(warning: string) => void> = [];

/**
 * Runs `make` (a constructor of an AWS SDK client, which warns synchronously) with the SDK's
 * NodeVersionSupportWarning held back instead of printed; any other warning is emitted as usual.
 */
export function withoutNodeVersionWarning<T>(make: () => T): T {
  const emit = process.emitWarning;
  const filtered = (warning: string | Error, ...rest: unknown[]): void => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (!NODE_VERSION_WARNING.test(text)) {
      (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
      return;
    }
    held.push(text);
    for (const listener of listeners) listener(text);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
  try {
    return make();
  } finally {
    process.emitWarning = emit;
  }
}

/** An S3 client made without printing the SDK's NodeVersionSupportWarning. */
export function newS3Client(config: S3ClientConfig): S3Client {
  // Loaded here, not with this module: the gateway daemon imports it on every route, S3 or not.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sdk = require("@aws-sdk/client-s3") as typeof import("@aws-sdk/client-s3");
  return withoutNodeVersionWarning(() => new sdk.S3Client(config));
}

/** Calls `listener` with each warning held back from now on (a gateway writes them to its log). */
export function onHeldWarning(listener: (warning: string) => void): void {
  listeners.push(listener);
}

/** The SDK's warnings for this Node, held back: what `skyplane check` shows (none on Node 22+). */
export function sdkWarnings(): string[] {
  // Making a client does no I/O; it is where the SDK decides to warn (once per process).
  newS3Client({ region: "us-east-1" });
  return [...new Set(held)];
}
