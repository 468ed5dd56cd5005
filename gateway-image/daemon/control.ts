import * as crypto from "node:crypto";
import type * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { ChunkRequest } from "../../planner/program";
import { controlServerTls } from "../control-tls";
import { type GatewayExecutor, RefusedError } from "./executor";
import { SkyplaneError } from "../../errors";

/*
 * The control API (runner ↔ gateway), HTTP/JSON over TLS with a key derived from the dataplane token
 * (control-tls.ts), every request also authenticated with `Authorization: Bearer <dataplane token>`:
 *   GET  /api/v1/status                  → { gatewayId, region, ready, isSource, stats }
 *   POST /api/v1/chunk_requests          { chunks: ChunkRequest[] } → { accepted }  (a prefix; resend the rest)
 *   GET  /api/v1/chunk_status?cursor=N   → { cursor, events: ChunkEvent[] }  (events after N)
 *   GET  /api/v1/errors                  → { errors: string[] }
 *   POST /api/v1/lease                   → { renewed: true }  (a heartbeat: the client is still there;
 *                                          every authenticated request counts as one)
 *   POST /api/v1/shutdown                → 202, then the gateway exits
 */

/** Largest request body accepted (a batch of chunk requests). */
const MAX_BODY = 32 * 1024 * 1024;

/** Options of the control server. */
export interface ControlServerOptions {
  /** The dataplane token. */
  readonly token: string;
  /** The executor it controls. */
  readonly executor: GatewayExecutor;
  /** Problems worth showing the runner (dropped connections, rejected frames). */
  readonly errors: string[];
  /** Called on POST /shutdown. */
  readonly onShutdown: () => void;
  /** Called on every authenticated request: the client is still there. */
  readonly onContact?: () => void;
}

/** A request the control API refuses with `status`. */
class HttpError extends SkyplaneError<"CONTROL_REFUSED"> {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super("CONTROL_REFUSED", message);
  }
}

/** The gateway's control API server. */
export class ControlServer {
  private readonly server: https.Server;
  private readonly tokenDigest: Buffer;

  constructor(private readonly opts: ControlServerOptions) {
    this.tokenDigest = crypto.createHash("sha256").update(opts.token).digest();
    this.server = https.createServer(controlServerTls(opts.token), (req, res) => {
      this.route(req).then(
        ([status, body]) => reply(res, status, body),
        (err: Error) =>
          reply(res, err instanceof HttpError ? err.status : 500, { error: err.message }),
      );
    });
    this.server.keepAliveTimeout = 30_000;
  }

  /** Starts listening; resolves to the bound port. */
  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops the server. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private authorized(req: http.IncomingMessage): boolean {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    if (!m) return false;
    // Compare digests, so that neither the length nor the content leaks through timing.
    return crypto.timingSafeEqual(
      crypto.createHash("sha256").update(m[1]).digest(),
      this.tokenDigest,
    );
  }

  private async route(req: http.IncomingMessage): Promise<[number, unknown]> {
    if (!this.authorized(req)) {
      await drain(req);
      throw new HttpError(401, "missing or wrong bearer token");
    }
    this.opts.onContact?.();
    const url = new URL(req.url ?? "/", "http://gateway");
    const ex = this.opts.executor;
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case "GET /api/v1/status":
        return [
          200,
          {
            gatewayId: ex.program.gatewayId,
            region: ex.program.region,
            ready: true,
            isSource: ex.isSource,
            stats: ex.stats,
          },
        ];
      case "POST /api/v1/chunk_requests": {
        const body = (await readJson(req)) as { chunks?: ChunkRequest[] };
        if (!Array.isArray(body.chunks)) throw new HttpError(400, "body must be { chunks: [...] }");
        if (!ex.isSource) throw new HttpError(409, "this gateway does not read from a store");
        try {
          return [200, { accepted: ex.accept(body.chunks) }];
        } catch (err) {
          if (err instanceof RefusedError) throw new HttpError(400, err.message);
          throw err;
        }
      }
      case "GET /api/v1/chunk_status": {
        const cursor = Number(url.searchParams.get("cursor") ?? 0);
        if (!Number.isInteger(cursor) || cursor < 0)
          throw new HttpError(400, "cursor must be a whole number");
        return [200, ex.eventsAfter(cursor, 10_000)];
      }
      case "POST /api/v1/read_back": {
        const body = (await readJson(req)) as {
          bucket?: string;
          key?: string;
          ranges?: Array<{ offset: number; length: number }>;
        };
        if (typeof body.bucket !== "string")
          throw new HttpError(
            400,
            "body must be { bucket, key, ranges: [{ offset, length }, ...] }",
          );
        try {
          return [
            200,
            { ranges: await ex.readBack(body.bucket, body.key as string, body.ranges ?? []) },
          ];
        } catch (err) {
          if (err instanceof RefusedError) throw new HttpError(400, err.message);
          throw err;
        }
      }
      case "GET /api/v1/errors":
        return [200, { errors: this.opts.errors }];
      case "POST /api/v1/lease":
        await drain(req);
        return [200, { renewed: true }];
      case "POST /api/v1/shutdown":
        await drain(req);
        setImmediate(this.opts.onShutdown);
        return [202, { shuttingDown: true }];
      default:
        await drain(req);
        throw new HttpError(404, `no route ${route}`);
    }
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function drain(req: http.IncomingMessage): Promise<void> {
  for await (const _ of req) void _;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const piece of req as AsyncIterable<Buffer>) {
    size += piece.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body over ${MAX_BODY} bytes`);
    parts.push(piece);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch {
    throw new HttpError(400, "request body is not JSON");
  }
}
