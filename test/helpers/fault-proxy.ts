import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** Which bodies a fault proxy corrupts. */
export interface FlipRules {
  /** Flip a byte of request bodies (uploads) of at least this many bytes whose path matches. */
  readonly upload?: RegExp;
  /** Flip a byte of response bodies (downloads) of at least this many bytes whose path matches. */
  readonly download?: RegExp;
  /** Smallest body that is flipped (so that small control requests pass); default 4096. */
  readonly minBytes?: number;
  /** Rewrites a GET response body (a store's report of its hashes, say); undefined leaves it. */
  readonly tamper?: (path: string, body: Buffer) => Buffer | undefined;
}

/** A proxy on loopback in front of an emulator. */
export interface FaultProxy {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Bodies flipped so far. */
  flips(): number;
  close(): Promise<void>;
}

/** Flips one byte in the middle of `body` (bit 0x20: the length stays the same). */
function flip(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  copy[copy.length >> 1] ^= 0x20;
  return copy;
}

/**
 * An HTTP proxy that forwards everything to `target`, flipping one byte of the bodies `rules` name: a
 * network (or a server) that corrupts data in flight, which the store or skyplane must catch.
 */
export async function startFaultProxy(target: string, rules: FlipRules): Promise<FaultProxy> {
  const upstream = new URL(target);
  const min = rules.minBytes ?? 4096;
  let flips = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: Buffer = Buffer.concat(chunks);
      const path = decodeURIComponent(req.url ?? "");
      if (rules.upload?.test(path) && body.length >= min) {
        body = flip(body);
        flips++;
      }
      const forward = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          const down: Buffer[] = [];
          up.on("data", (c: Buffer) => down.push(c));
          up.on("end", () => {
            let reply: Buffer = Buffer.concat(down);
            if (req.method === "GET" && rules.download?.test(path) && reply.length >= min) {
              reply = flip(reply);
              flips++;
            }
            const tampered = req.method === "GET" ? rules.tamper?.(path, reply) : undefined;
            if (tampered) {
              reply = tampered;
              flips++;
            }
            res.writeHead(up.statusCode ?? 502, {
              ...up.headers,
              // A HEAD reply has no body, but says how long the object is: that stays as it is.
              ...(up.headers["content-length"] && req.method !== "HEAD"
                ? { "content-length": String(reply.length) }
                : {}),
            });
            res.end(reply);
          });
        },
      );
      forward.on("error", (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      forward.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    flips: () => flips,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
