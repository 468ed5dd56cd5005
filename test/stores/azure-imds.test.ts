import * as assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { AzureStore } from "../../stores/azure";
import { ImdsCredential, scopeResource } from "../../stores/azure/imds";
import { StoreError } from "../../stores/types";

/*
 * The Azure store's managed-identity path: tokens from a stand-in of IMDS on loopback that answers as the
 * documented token endpoint does, and a blob request that carries the token to an HTTPS stand-in of the
 * blob service (the SDK sends bearer tokens over TLS only).
 */

interface Seen {
  url: URL;
  headers: http.IncomingHttpHeaders;
}

/** An IMDS stand-in: answers each token request with the next of `answers` (the last one repeats). */
async function imds(
  answers: Array<{ status: number; body: unknown; headers?: Record<string, string> }>,
): Promise<{ endpoint: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: new URL(req.url ?? "/", "http://imds"), headers: req.headers });
    const a = answers[Math.min(seen.length - 1, answers.length - 1)];
    res.writeHead(a.status, { "content-type": "application/json", ...a.headers });
    res.end(JSON.stringify(a.body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const token = (value: string, inSeconds = 3600) => ({
  status: 200,
  body: {
    access_token: value,
    expires_in: String(inSeconds),
    expires_on: String(Math.floor(Date.now() / 1000) + inSeconds),
    resource: "https://storage.azure.com",
    token_type: "Bearer",
  },
});

describe("stores/azure: a VM's managed identity (IMDS)", () => {
  it("asks IMDS as documented: Metadata header, API version, the scope's resource", async () => {
    const s = await imds([token("tok-1")]);
    try {
      const got = await new ImdsCredential({ endpoint: s.endpoint }).getToken(
        "https://storage.azure.com/.default",
      );
      assert.equal(got.token, "tok-1");
      assert.ok(got.expiresOnTimestamp > Date.now() + 3500_000, "expires_on, in ms");
      assert.equal(s.seen.length, 1);
      const [{ url, headers }] = s.seen;
      assert.equal(url.pathname, "/metadata/identity/oauth2/token");
      assert.equal(url.searchParams.get("api-version"), "2018-02-01");
      assert.equal(url.searchParams.get("resource"), "https://storage.azure.com");
      assert.equal(url.searchParams.get("client_id"), null, "no client id unless given");
      assert.equal(headers.metadata, "true");
    } finally {
      await s.close();
    }
  });

  it("keeps a token until five minutes before it expires, one per resource", async () => {
    const s = await imds([token("short", 200), token("long"), token("vault")]);
    try {
      const cred = new ImdsCredential({ endpoint: s.endpoint, clientId: "cid-1" });
      assert.equal((await cred.getToken("https://storage.azure.com/.default")).token, "short");
      // Less than five minutes left: asked again.
      assert.equal((await cred.getToken("https://storage.azure.com/.default")).token, "long");
      assert.equal((await cred.getToken(["https://storage.azure.com/.default"])).token, "long");
      assert.equal((await cred.getToken("https://vault.azure.net/.default")).token, "vault");
      assert.equal(s.seen.length, 3, "the long-lived token was kept");
      assert.deepEqual(
        s.seen.map((r) => r.url.searchParams.get("client_id")),
        ["cid-1", "cid-1", "cid-1"],
      );
    } finally {
      await s.close();
    }
  });

  it("retries a busy IMDS (429, 5xx) and not a refusal (4xx), which it explains", async () => {
    const busy = await imds([
      { status: 429, body: {}, headers: { "retry-after": "0" } },
      { status: 503, body: {}, headers: { "retry-after": "0" } },
      token("after-retries"),
    ]);
    try {
      const got = await new ImdsCredential({ endpoint: busy.endpoint }).getToken("r/.default");
      assert.equal(got.token, "after-retries");
      assert.equal(busy.seen.length, 3);
    } finally {
      await busy.close();
    }
    const refused = await imds([
      {
        status: 400,
        body: { error: "invalid_request", error_description: "Identity not found" },
      },
    ]);
    try {
      await assert.rejects(
        new ImdsCredential({ endpoint: refused.endpoint }).getToken("r/.default"),
        (err: StoreError) =>
          err.code === "NO_CREDENTIALS" &&
          /HTTP 400: .*Identity not found.*give the VM a managed identity/.test(err.message),
      );
      assert.equal(refused.seen.length, 1, "a 4xx is not retried");
    } finally {
      await refused.close();
    }
  });

  it("says so when there is no IMDS at all (not an Azure VM)", async () => {
    const s = await imds([token("x")]);
    const endpoint = s.endpoint;
    await s.close(); // nothing listens there now
    await assert.rejects(
      new ImdsCredential({ endpoint, attempts: 2 }).getToken("r/.default"),
      (err: StoreError) =>
        err.code === "NO_CREDENTIALS" && /unreachable .*Azure VM only/.test(err.message),
    );
  });

  it("refuses an answer without a token, and a scope-less request", async () => {
    const s = await imds([{ status: 200, body: { token_type: "Bearer" } }]);
    try {
      await assert.rejects(
        new ImdsCredential({ endpoint: s.endpoint }).getToken("r/.default"),
        /answered no access_token/,
      );
    } finally {
      await s.close();
    }
    assert.throws(() => scopeResource([]), /needs a scope/);
  });

  it("is what the store uses under SKYPLANE_AZURE_AUTH=managed-identity; without it, no credentials", () => {
    assert.throws(
      () => new AzureStore("acct/c", {}, {}),
      (err: StoreError) =>
        err.code === "NO_CREDENTIALS" && /SKYPLANE_AZURE_AUTH=managed-identity/.test(err.message),
    );
    const store = new AzureStore(
      "acct/c",
      {},
      { SKYPLANE_AZURE_AUTH: "managed-identity", SKYPLANE_AZURE_BLOB_ENDPOINT: "https://x/acct" },
    );
    assert.equal(store.emulated, true, "a custom endpoint");
    assert.equal(
      new AzureStore("acct/c", {}, { SKYPLANE_AZURE_AUTH: "managed-identity" }).emulated,
      false,
    );
  });

  describe("a blob request, with the token, to an HTTPS stand-in of the blob service", function () {
    this.timeout(60_000);
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-imds-"));
      // A self-signed certificate for 127.0.0.1, trusted by the child through NODE_EXTRA_CA_CERTS.
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-keyout",
          path.join(dir, "key.pem"),
          "-out",
          path.join(dir, "cert.pem"),
          "-days",
          "1",
          "-subj",
          "/CN=127.0.0.1",
          "-addext",
          "subjectAltName=IP:127.0.0.1",
        ],
        { stdio: "ignore" },
      );
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("carries the VM's bearer token from IMDS, and nothing else", async () => {
      const s = await imds([token("the-vm-token")]);
      const requests: Seen[] = [];
      const blob = https.createServer(
        {
          key: fs.readFileSync(path.join(dir, "key.pem")),
          cert: fs.readFileSync(path.join(dir, "cert.pem")),
        },
        (req, res) => {
          requests.push({ url: new URL(req.url ?? "/", "https://blob"), headers: req.headers });
          // Get Blob Properties of an object of 3 bytes.
          res.writeHead(200, {
            "content-length": "3",
            "last-modified": new Date(0).toUTCString(),
            "x-ms-blob-type": "BlockBlob",
            "x-ms-version": "2021-08-06",
          });
          res.end();
        },
      );
      await new Promise<void>((r) => blob.listen(0, "127.0.0.1", r));
      const port = (blob.address() as AddressInfo).port;
      try {
        const script = [
          `const { AzureStore } = require(${JSON.stringify(require.resolve("../../stores/azure"))});`,
          'new AzureStore("acct/artifacts").head("gateway/x.tar.gz")',
          "  .then((o) => process.stdout.write(JSON.stringify({ size: o.size })))",
          "  .catch((e) => { process.stderr.write(String(e.stack)); process.exit(1); });",
        ].join("\n");
        const child = spawn(process.execPath, ["-e", script], {
          env: {
            PATH: process.env.PATH,
            NODE_EXTRA_CA_CERTS: path.join(dir, "cert.pem"),
            SKYPLANE_AZURE_AUTH: "managed-identity",
            SKYPLANE_AZURE_IMDS_ENDPOINT: s.endpoint,
            SKYPLANE_AZURE_BLOB_ENDPOINT: `https://127.0.0.1:${port}/acct`,
          },
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (c) => (out += c));
        child.stderr.on("data", (c) => (err += c));
        const code = await new Promise((r) => child.on("exit", r));
        assert.equal(code, 0, err);
        assert.deepEqual(JSON.parse(out), { size: 3 });
        assert.equal(requests.length, 1);
        assert.equal(requests[0].url.pathname, "/acct/artifacts/gateway/x.tar.gz");
        assert.equal(requests[0].headers.authorization, "Bearer the-vm-token");
        assert.equal(s.seen[0].url.searchParams.get("resource"), "https://storage.azure.com");
      } finally {
        await s.close();
        await new Promise((r) => blob.close(r));
      }
    });
  });
});
