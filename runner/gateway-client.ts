import * as https from "node:https";
import { controlClientTls } from "../gateway-image/control-tls";
import type { ChunkRequest } from "../planner/program";
import { SkyplaneError } from "../errors";
import type { Hashes } from "../stores/hashes";

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
  /** Hashes of the chunk as read, in the algorithms the request asked for (`stores/hashes.ts`). */
  readonly hashes?: Hashes;
  /**
   * What each destination store reported it holds once it wrote the chunk's object, by bucket URI:
   * its size and the store's own hashes (whole objects only, not parts).
   */
  readonly stored?: Readonly<Record<string, StoredObject>>;
}

/** An object as a destination store reported it when it wrote it. */
export interface StoredObject {
  readonly size: number;
  readonly hashes: Hashes;
}

/** A gateway that does not answer; the message names it and says where its log is. */
export class GatewayUnreachableError extends SkyplaneError<"GATEWAY_UNREACHABLE"> {
  constructor(
    readonly gatewayId: string,
    message: string,
  ) {
    super("GATEWAY_UNREACHABLE", message);
  }
}

/** Client of one gateway's control API (HTTP/JSON over TLS keyed by the token, and a bearer token). */
export class GatewayClient {
  private readonly agent: https.Agent;

  constructor(
    /** The gateway. */
    readonly endpoint: GatewayEndpoint,
    private readonly token: string,
    private readonly timeoutMs = 10_000,
  ) {
    // One kept-alive TLS connection serves the runner's frequent polls.
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 4, ...controlClientTls(token) });
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

  /**
   * The CRC-32 (8 hex digits) and length of each range of `key` as the destination store `bucket` holds
   * it, read by the gateway in its region. `timeoutMs` bounds this call (a long range takes a while).
   */
  async readBack(
    bucket: string,
    key: string,
    ranges: ReadonlyArray<{ offset: number; length: number }>,
    timeoutMs = this.timeoutMs,
  ): Promise<Array<{ bytes: number; crc: string }>> {
    const body = { bucket, key, ranges };
    return (
      await this.call<{ ranges: Array<{ bytes: number; crc: string }> }>(
        "POST",
        "/read_back",
        body,
        timeoutMs,
      )
    ).ranges;
  }

  /** Problems the gateway logged (rejected frames, dropped connections). */
  async errors(): Promise<string[]> {
    return (await this.call<{ errors: string[] }>("GET", "/errors")).errors;
  }

  /** Tells the gateway its client is still there (a heartbeat): it stops on its own after a silence. */
  async renewLease(): Promise<void> {
    await this.call("POST", "/lease");
  }

  /** Asks the gateway to exit. */
  async shutdown(): Promise<void> {
    await this.call("POST", "/shutdown");
  }

  /**
   * One request and its answer. A GET whose kept-alive connection turns out to have been closed by the
   * gateway meanwhile (reset as it is reused: the request never reached it) is sent once more on a new
   * connection; anything else fails as it is (a POST is never sent twice).
   */
  private async send(
    method: string,
    path: string,
    payload: string | undefined,
    timeoutMs: number,
  ): Promise<{ status: number; text: string }> {
    for (let attempt = 0; ; attempt++) {
      let reused = false;
      try {
        return await new Promise<{ status: number; text: string }>((resolve, reject) => {
          const req = https.request(
            {
              host: this.endpoint.host,
              port: this.endpoint.controlPort,
              path: `/api/v1${path}`,
              method,
              agent: this.agent,
              headers: {
                authorization: `Bearer ${this.token}`,
                ...(payload ? { "content-type": "application/json" } : {}),
              },
              signal: AbortSignal.timeout(timeoutMs),
            },
            (res) => {
              const parts: Buffer[] = [];
              res.on("data", (d: Buffer) => parts.push(d));
              res.on("end", () =>
                resolve({
                  status: res.statusCode ?? 0,
                  text: Buffer.concat(parts).toString("utf8"),
                }),
              );
              res.on("error", reject);
            },
          );
          req.on("error", reject);
          req.on("socket", () => (reused = req.reusedSocket));
          req.end(payload);
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (method === "GET" && reused && e.code === "ECONNRESET" && attempt === 0) continue;
        throw err;
      }
    }
  }

  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const where = `gateway ${this.endpoint.gatewayId} at ${this.endpoint.host}:${this.endpoint.controlPort}`;
    let status: number;
    let text: string;
    try {
      ({ status, text } = await this.send(method, path, payload, timeoutMs));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // A handshake that fails on the key: this is not the dataplane's gateway (or not its token).
      if (e.code === "EPROTO" || /alert|decrypt|handshake/i.test(e.message))
        throw new SkyplaneError(
          "GATEWAY_AUTH",
          `${where} refused the dataplane's key (${e.message.trim()}): it belongs to another dataplane, or the stack's token changed; reprovision`,
        );
      const why = e.code === "ABORT_ERR" ? `no answer in ${timeoutMs} ms` : (e.code ?? e.message);
      throw new GatewayUnreachableError(
        this.endpoint.gatewayId,
        `${where} does not answer (${why}); its log is in the skyplane home's logs folder`,
      );
    }
    if (status < 200 || status >= 300) {
      let message = text;
      try {
        message = JSON.parse(text).error ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new SkyplaneError(
        "GATEWAY_ERROR",
        `gateway ${this.endpoint.gatewayId}: ${method} ${path}: ${status} ${message}`,
      );
    }
    return JSON.parse(text) as T;
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}
