import type { ChunkRequest } from "../planner/program";
import { SkyplaneError } from "../errors";

/** How the runner reaches one gateway's control API. */
export interface GatewayEndpoint {
  /** The gateway's id (named in errors). */
  readonly gatewayId: string;
  /** Host of its control API. */
  readonly host: string;
  /** Port of its control API. */
  readonly controlPort: number;
}

/** A chunk outcome as the gateway reports it. */
export interface ChunkStatusEvent {
  readonly seq: number;
  readonly id: string;
  readonly state: "done" | "failed";
  readonly error?: string;
  readonly crc?: string;
}

/** A gateway that does not answer; the message names it and says where its log is. */
export class GatewayUnreachableError extends SkyplaneError {
  constructor(
    readonly gatewayId: string,
    message: string,
  ) {
    super("GATEWAY_UNREACHABLE", message);
  }
}

/** Client of one gateway's control API (HTTP/JSON, bearer token). */
export class GatewayClient {
  private readonly base: string;

  constructor(
    /** The gateway. */
    readonly endpoint: GatewayEndpoint,
    private readonly token: string,
    private readonly timeoutMs = 10_000,
  ) {
    const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
    this.base = `http://${host}:${endpoint.controlPort}/api/v1`;
  }

  /** Status and counters; proves the gateway is up. */
  status(): Promise<{
    gatewayId: string;
    ready: boolean;
    isSource: boolean;
    stats: Record<string, number>;
  }> {
    return this.call("GET", "/status");
  }

  /** Offers chunk requests; returns how many the gateway took (a prefix of `chunks`). */
  async submit(chunks: ChunkRequest[]): Promise<number> {
    return (await this.call<{ accepted: number }>("POST", "/chunk_requests", { chunks })).accepted;
  }

  /** Chunk outcomes after `cursor`, and the cursor to pass next. */
  chunkStatus(cursor: number): Promise<{ cursor: number; events: ChunkStatusEvent[] }> {
    return this.call("GET", `/chunk_status?cursor=${cursor}`);
  }

  /** Problems the gateway logged (rejected frames, dropped connections). */
  async errors(): Promise<string[]> {
    return (await this.call<{ errors: string[] }>("GET", "/errors")).errors;
  }

  /** Asks the gateway to exit. */
  async shutdown(): Promise<void> {
    await this.call("POST", "/shutdown");
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new GatewayUnreachableError(
        this.endpoint.gatewayId,
        `gateway ${this.endpoint.gatewayId} at ${this.endpoint.host}:${this.endpoint.controlPort} does not answer (${cause}); ` +
          "its log is in the skyplane home's logs folder",
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = JSON.parse(text).error ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new SkyplaneError(
        "GATEWAY_ERROR",
        `gateway ${this.endpoint.gatewayId}: ${method} ${path}: ${res.status} ${message}`,
      );
    }
    return JSON.parse(text) as T;
  }
}
