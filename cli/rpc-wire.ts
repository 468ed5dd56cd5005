/*
 * The wire of `skyplane rpc --stdio` (python/PROTOCOL.md): JSON lines, one message per line, at most
 * 1 MiB each, every message carrying the protocol version `v`. A request is
 * `{"v":1,"id":7,"method":"copy","params":{…}}`; its answer `{"v":1,"id":7,"result":…}` or
 * `{"v":1,"id":7,"error":{"code":…,"message":…,"exit":…}}`; an event `{"v":1,"event":"heartbeat"}`.
 * A line that is not such a request is refused with an error naming what is wrong, and the server
 * reads on: one bad message never ends the session.
 */
import { SkyplaneError, UserError } from "../errors";
import { TransferFailedError } from "../runner";
import { exitStatus } from "./exit-status";

/** The protocol version this server speaks. */
export const PROTOCOL_VERSION = 1;

/** The largest message either side sends or accepts, newline excluded: 1 MiB. */
export const MAX_MESSAGE_BYTES = 1 << 20;

/** A request's id: what the caller chose, echoed in the answer. */
export type RequestId = number | string;

/** A request as it arrives. */
export interface Request {
  readonly v: typeof PROTOCOL_VERSION;
  readonly id: RequestId;
  readonly method: string;
  readonly params: Record<string, unknown>;
}

/** An error as the wire carries it: the code of ERRORS (null for an error of Node or the OS). */
export interface WireError {
  readonly code: string | null;
  readonly message: string;
  /** The status `skyplane` would exit with. */
  readonly exit: number;
  /** A failed transfer's failed chunks or objects, one line each. */
  readonly failures?: readonly string[];
}

/** Any message the server writes. */
export type Outgoing =
  | { readonly v: 1; readonly id: RequestId | null; readonly result: unknown }
  | { readonly v: 1; readonly id: RequestId | null; readonly error: WireError }
  | ({ readonly v: 1; readonly event: string } & Record<string, unknown>);

/**
 * Cuts a byte stream into lines of at most `max` bytes. A longer line is never held in memory: its
 * bytes are counted and dropped up to its newline, then reported with `onOversized`.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  /** Bytes of the oversized line being dropped, or -1 while none is. */
  private dropped = -1;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onOversized: (bytes: number) => void,
  ) {}

  /** Feeds the next bytes of the stream. */
  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      this.take(chunk.subarray(start, end));
      if (nl < 0) return;
      this.finishLine();
      start = nl + 1;
    }
  }

  /** The stream ended: a last line without its newline still counts. */
  end(): void {
    if (this.size > 0 || this.dropped >= 0) this.finishLine();
  }

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.dropped >= 0) {
      this.dropped += piece.length;
    } else if (this.size + piece.length > this.max) {
      this.dropped = this.size + piece.length;
      this.parts = [];
      this.size = 0;
    } else {
      this.parts.push(piece);
      this.size += piece.length;
    }
  }

  private finishLine(): void {
    if (this.dropped >= 0) {
      const bytes = this.dropped;
      this.dropped = -1;
      this.onOversized(bytes);
      return;
    }
    const line = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    // CRLF from a peer that writes text mode lines: the CR is no part of the message.
    const text = line.at(-1) === 0x0d ? line.subarray(0, -1) : line;
    if (text.length > 0) this.onLine(text);
  }
}

/** The error that refuses a message: `BAD_MESSAGE`, saying what a good one looks like. */
export function badMessage(what: string): UserError {
  return new UserError("BAD_MESSAGE", `message refused: ${what}`);
}

/** The refusal of a line of `bytes` bytes, over MAX_MESSAGE_BYTES. */
export function oversized(bytes: number): UserError {
  return badMessage(
    `${bytes} bytes is over the limit of ${MAX_MESSAGE_BYTES} bytes (1 MiB) a message may hold; ` +
      "name large inputs by URI or path instead of sending them inline",
  );
}

/** Parses one line into a request, or the error that refuses it (with the request's id when it had one). */
export function parseRequest(
  line: Buffer,
): { request: Request } | { id: RequestId | null; error: UserError } {
  let value: unknown;
  try {
    value = JSON.parse(line.toString("utf8"));
  } catch (err) {
    return {
      id: null,
      error: badMessage(`not JSON (${(err as Error).message}); send one JSON object per line`),
    };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { id: null, error: badMessage(`a request is an object, not ${JSON.stringify(value)}`) };
  }
  const msg = value as Record<string, unknown>;
  const id =
    (typeof msg.id === "number" && Number.isSafeInteger(msg.id)) || typeof msg.id === "string"
      ? (msg.id as RequestId)
      : null;
  if (msg.v !== PROTOCOL_VERSION) {
    return {
      id,
      error: badMessage(
        `protocol version ${JSON.stringify(msg.v)} is not spoken here (this Node side speaks ${PROTOCOL_VERSION}): ` +
          "install the Python package and the Node side from the same checkout",
      ),
    };
  }
  if (id === null) {
    return { id, error: badMessage('a request needs an "id": an integer or a string') };
  }
  if (typeof msg.method !== "string") {
    return { id, error: badMessage('a request needs a "method": a string') };
  }
  const params = msg.params ?? {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    return { id, error: badMessage(`"params" of ${msg.method} must be an object`) };
  }
  return {
    request: {
      v: PROTOCOL_VERSION,
      id,
      method: msg.method,
      params: params as Record<string, unknown>,
    },
  };
}

/** An error as the wire carries it, with the exit status the CLI would give it. */
export function wireError(err: unknown): WireError {
  return {
    code: err instanceof SkyplaneError ? err.code : null,
    message: err instanceof Error ? err.message : String(err),
    exit: exitStatus(err),
    ...(err instanceof TransferFailedError && { failures: err.failures }),
  };
}

/**
 * A message as one line, newline included. A message that would exceed MAX_MESSAGE_BYTES becomes the
 * error that says so, so that the peer is never sent what it must refuse.
 */
export function encode(message: Outgoing): string {
  const text = JSON.stringify(message);
  if (Buffer.byteLength(text) <= MAX_MESSAGE_BYTES) return text + "\n";
  const id = "id" in message ? message.id : null;
  const what = "event" in message ? `event ${message.event}` : "answer";
  const error = wireError(
    new UserError(
      "BAD_MESSAGE",
      `the ${what} is ${Buffer.byteLength(text)} bytes, over the limit of ${MAX_MESSAGE_BYTES} bytes (1 MiB) a message may hold`,
    ),
  );
  return JSON.stringify({ v: PROTOCOL_VERSION, id, error }) + "\n";
}
