import * as assert from "node:assert/strict";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { controlServerTls } from "../../gateway-image/control-tls";
import { GatewayClient } from "../../runner/gateway-client";

/*
 * The runner's control-API client over a kept-alive connection that the gateway closes between two
 * requests (as a server ends an idle connection just as the client reuses it): a poll is sent again on a
 * new connection; a POST is never sent twice.
 */
describe("runner: the gateway client on a kept-alive connection the gateway closed", () => {
  const token = "the-token";
  let server: https.Server;
  let port: number;
  /** Requests the server saw, as "METHOD path #connection". */
  let seen: string[];

  beforeEach(async () => {
    seen = [];
    let connections = 0;
    const served = new WeakMap<object, number>();
    server = https.createServer(controlServerTls(token), (req, res) => {
      const socket = req.socket;
      if (!served.has(socket)) served.set(socket, ++connections);
      const n = served.get(socket) as number;
      seen.push(`${req.method} ${req.url} #${n}`);
      if (n === 1 && seen.filter((s) => s.endsWith("#1")).length === 2) {
        socket.destroy(); // the connection's second request: closed without an answer
        return;
      }
      res.setHeader("content-type", "application/json");
      res.end(
        req.url?.startsWith("/api/v1/chunk_status")
          ? JSON.stringify({ cursor: 7, events: [] })
          : JSON.stringify({ accepted: 1 }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = () =>
    new GatewayClient({ gatewayId: "gw", host: "127.0.0.1", controlPort: port }, token);

  it("sends a poll again on a new connection", async () => {
    const c = client();
    assert.deepEqual(await c.chunkStatus(0), { cursor: 7, events: [] });
    assert.deepEqual(await c.chunkStatus(7), { cursor: 7, events: [] });
    assert.deepEqual(seen, [
      "GET /api/v1/chunk_status?cursor=0 #1",
      "GET /api/v1/chunk_status?cursor=7 #1",
      "GET /api/v1/chunk_status?cursor=7 #2",
    ]);
    c.close();
  });

  it("never sends a POST twice: the caller hears that the gateway did not answer", async () => {
    const c = client();
    await c.chunkStatus(0);
    await assert.rejects(
      c.submit([]),
      (err: Error & { code?: string }) =>
        err.code === "GATEWAY_UNREACHABLE" && /ECONNRESET/.test(err.message),
    );
    assert.deepEqual(seen, [
      "GET /api/v1/chunk_status?cursor=0 #1",
      "POST /api/v1/chunk_requests #1",
    ]);
    c.close();
  });
});
