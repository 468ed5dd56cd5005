import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { AzureStore } from "../../stores/azure";
import { httpVerdict, withRetries } from "../../stores/retry";
import { S3Store } from "../../stores/s3";
import { emulators } from "../helpers/emulators";

/** An HTTP proxy on loopback in front of an emulator that answers the first `faults` requests itself. */
async function faultyProxy(
  target: string,
  faults: Array<{ status: number; body: string; headers?: Record<string, string> }>,
) {
  const upstream = new URL(target);
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const fault = faults.shift();
    if (fault) {
      req.resume();
      res.writeHead(fault.status, { "content-type": "application/xml", ...fault.headers });
      res.end(fault.body);
      return;
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
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(forward);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const s3Error = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;

describe("stores: retries, throttling and errors", function () {
  this.timeout(60_000);
  let env: Record<string, string>;
  let bucket: string;
  before(async () => {
    env = (await emulators()).env;
    bucket = `faults-${crypto.randomBytes(3).toString("hex")}`;
    await new S3Store(bucket, {}, { ...process.env, ...env }).createBucket("aws:us-east-1");
  });

  it("backs off exponentially and honours Retry-After; retries 5xx and 429, never 4xx", async () => {
    const delays: number[] = [];
    let calls = 0;
    const flaky = () => {
      calls++;
      return calls < 3 ? Promise.reject({ status: 503 }) : Promise.resolve("ok");
    };
    const classify = (e: unknown) =>
      httpVerdict((e as { status: number }).status, (e as { retryAfter?: string }).retryAfter);
    assert.equal(
      await withRetries(flaky, classify, { baseMs: 1, onRetry: (_, __, d) => delays.push(d) }),
      "ok",
    );
    assert.equal(calls, 3);
    assert.ok(
      delays.every((d) => d >= 0 && d <= 2),
      `full jitter under the cap: ${delays}`,
    );
    let tries = 0;
    await assert.rejects(
      withRetries(() => (tries++, Promise.reject({ status: 404 })), classify, { baseMs: 1 }),
    );
    assert.equal(tries, 1, "a 4xx is not retried");
    const waited: number[] = [];
    calls = 0;
    const throttled = () =>
      ++calls < 2 ? Promise.reject({ status: 429, retryAfter: "0.02" }) : Promise.resolve(1);
    await withRetries(throttled, classify, { onRetry: (_, __, d) => waited.push(d) });
    assert.deepEqual(waited, [20], "Retry-After wins over the back-off");
  });

  it("S3: a 503 and a SlowDown are retried through a real server; the write lands once", async () => {
    const proxy = await faultyProxy(env.AWS_ENDPOINT_URL_S3, [
      { status: 503, body: s3Error("ServiceUnavailable") },
      { status: 503, body: s3Error("SlowDown") },
    ]);
    try {
      const store = new S3Store(bucket, { endpoint: proxy.url }, { ...process.env, ...env });
      await store.put("retried", Buffer.from("once"));
      assert.equal(proxy.requests(), 3, "two faults, then the real write");
      assert.equal((await store.get("retried")).toString(), "once");
    } finally {
      await proxy.close();
    }
  });

  it("S3: a permission error is not retried and says what to check", async () => {
    const proxy = await faultyProxy(env.AWS_ENDPOINT_URL_S3, [
      { status: 403, body: s3Error("AccessDenied") },
    ]);
    try {
      const store = new S3Store(bucket, { endpoint: proxy.url }, { ...process.env, ...env });
      await assert.rejects(
        store.put("denied", Buffer.from("x")),
        (e: Error & { code?: string }) =>
          e.code === "ACCESS_DENIED" &&
          /was denied: check the credentials' permissions/.test(e.message),
      );
      assert.equal(proxy.requests(), 1);
    } finally {
      await proxy.close();
    }
  });

  it("names the missing credential before anything else happens", async () => {
    assert.throws(
      () => new AzureStore(`devstoreaccount1/c`, {}, {}),
      /set AZURE_STORAGE_CONNECTION_STRING/,
    );
    // No keys, no profile, no instance metadata: the AWS chain has nothing to find.
    const bare = {
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credentials",
      AWS_CONFIG_FILE: "/nonexistent/config",
      AWS_ENDPOINT_URL_S3: env.AWS_ENDPOINT_URL_S3,
    };
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith("AWS_")) delete process.env[k];
    Object.assign(process.env, bare);
    try {
      await assert.rejects(
        new S3Store(bucket, {}, bare).exists(),
        /no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
      );
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
