import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SkyplaneClient } from "../../runner";
import {
  AzureStore,
  GcsStore,
  LocalStore,
  localBucketRoot,
  ObjectStore,
  S3Store,
} from "../../stores";
import { AZURITE_ACCOUNT } from "../../scripts/emulators";
import { EXIT, reportError } from "../../cli/cli";
import { DEFAULT_TRANSFER_OPTIONS, runTransfer } from "../../runner/transfer";
import { planned } from "../helpers/plan";
import { startDataplane } from "../../bench/loopback";
import { emulators } from "../helpers/emulators";
import { startFaultProxy } from "../helpers/fault-proxy";
import { SendPool } from "../../gateway-image/daemon/sender";
import { GatewayClient } from "../../runner/gateway-client";
import { SkyplaneError } from "../../errors";
import { openStore, StoreContext, StoreUri } from "../../stores/core";
import { readHashesOf } from "../../gateway-image/daemon/executor";
import type { ChunkRequest } from "../../planner/program";
import { crc32 } from "../../stores/checksum";

/*
 * Integrity end to end: data corrupted on its way into a store, on its way back out, or by a store that
 * silently keeps other bytes, is caught; the transfer fails (exit 3, "verification failed for KEY") and
 * leaves no destination object (or the previous version intact).
 */
describe("integration: verification catches corrupted bytes", function () {
  this.timeout(300_000);
  let home: string;
  let env: Record<string, string>;
  let local: LocalStore;
  const saved: NodeJS.ProcessEnv = {};
  const one = crypto.randomBytes(1 << 20);
  const big = crypto.randomBytes(12 << 20); // 3 parts of 5 MiB

  before(async () => {
    env = (await emulators()).env;
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-integrity-"));
    local = await LocalStore.createBucket("src", localBucketRoot({ home }, "src"), "local:south");
    await local.put("one.bin", one);
    await local.put("big.bin", big);
  });
  after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** A client whose stores and gateways see `overrides` over the emulators' variables. */
  function client(overrides: Record<string, string> = {}): SkyplaneClient {
    const before = { ...process.env };
    Object.assign(process.env, overrides);
    try {
      return new SkyplaneClient({
        home,
        transferConfig: { multipartThresholdBytes: 8 << 20, partSizeBytes: 5 << 20 },
      });
    } finally {
      for (const k of Object.keys(overrides)) {
        if (before[k] === undefined) delete process.env[k];
        else process.env[k] = before[k];
      }
    }
  }

  const tag = () => crypto.randomBytes(3).toString("hex");
  const clouds: Record<
    string,
    {
      make: () => Promise<{ uri: string; store: ObjectStore }>;
      endpoint: string;
      via: (proxy: string) => Record<string, string>;
    }
  > = {
    s3: {
      make: async () => {
        const b = `ig-s3-${tag()}`;
        const store = new S3Store(b);
        await store.createBucket("aws:us-east-1");
        return { uri: `s3://${b}`, store };
      },
      endpoint: "AWS_ENDPOINT_URL_S3",
      via: (proxy) => ({ AWS_ENDPOINT_URL_S3: proxy }),
    },
    gcs: {
      make: async () => {
        const b = `ig-gcs-${tag()}`;
        const store = new GcsStore(b);
        await store.createBucket("gcp:us-central1");
        return { uri: `gs://${b}`, store };
      },
      endpoint: "STORAGE_EMULATOR_HOST",
      via: (proxy) => ({ STORAGE_EMULATOR_HOST: proxy }),
    },
    azure: {
      make: async () => {
        const b = `ig-az-${tag()}`;
        const store = new AzureStore(`${AZURITE_ACCOUNT}/${b}`);
        await store.createBucket("azure:westeurope");
        return { uri: `azure://${AZURITE_ACCOUNT}/${b}`, store };
      },
      endpoint: "AZURE_STORAGE_CONNECTION_STRING",
      via: (proxy) => ({
        AZURE_STORAGE_CONNECTION_STRING: env.AZURE_STORAGE_CONNECTION_STRING.replace(
          /BlobEndpoint=http:\/\/[^/;]+/,
          `BlobEndpoint=${proxy}`,
        ),
      }),
    },
  };
  const target = (name: string): string => {
    const e = env[clouds[name].endpoint];
    return name === "azure" ? (/BlobEndpoint=(http:\/\/[^/;]+)/.exec(e) as RegExpExecArray)[1] : e;
  };

  for (const name of Object.keys(clouds)) {
    it(`${name}: an upload corrupted on the way in is refused; no object is left`, async () => {
      const dst = await clouds[name].make();
      await dst.store.put("keep/one.bin", Buffer.from("the previous version"));
      const proxy = await startFaultProxy(target(name), { upload: /./ });
      try {
        const c = client(clouds[name].via(proxy.url));
        await assert.rejects(
          c.copy({ src: "local://src/one.bin", dst: `${dst.uri}/keep/one.bin` }),
          /verification failed for keep\/one\.bin/,
        );
        await assert.rejects(
          c.copy({ src: "local://src/big.bin", dst: `${dst.uri}/big.bin` }),
          /verification failed for big\.bin/,
        );
        assert.ok(proxy.flips() >= 2, `the proxy corrupted ${proxy.flips()} uploads`);
      } finally {
        await proxy.close();
      }
      assert.equal(
        (await dst.store.get("keep/one.bin")).toString(),
        "the previous version",
        "the previous version is intact",
      );
      assert.equal(await dst.store.head("big.bin"), undefined, "no multipart object");
    });
  }

  for (const name of ["s3", "azure"]) {
    it(`${name}: an object whose bytes read back corrupted fails verification and is removed`, async () => {
      const dst = await clouds[name].make();
      // Only reads of the destination object are corrupted; the gateways' writes pass untouched.
      const proxy = await startFaultProxy(target(name), { download: /big\.bin/ });
      try {
        await assert.rejects(
          client(clouds[name].via(proxy.url)).copy({
            src: "local://src/big.bin",
            dst: `${dst.uri}/big.bin`,
          }),
          /verification failed for big\.bin/,
        );
        assert.ok(proxy.flips() >= 1, "the proxy corrupted a read-back");
      } finally {
        await proxy.close();
      }
      assert.equal(await dst.store.head("big.bin"), undefined, "no object left");
    });
  }

  it("gcs: an object whose crc32c reads back altered fails verification and is removed", async () => {
    const dst = await clouds.gcs.make();
    // GCS proves a composed object by the crc32c it reports; the proxy alters that report.
    const proxy = await startFaultProxy(target("gcs"), {
      tamper: (p, body) => {
        const m = /"crc32c":\s*"([^"]+)"/.exec(body.toString());
        if (!p.includes("/o/big.bin") || !m) return undefined;
        const altered = (m[1][0] === "A" ? "B" : "A") + m[1].slice(1);
        return Buffer.from(body.toString().replace(m[0], `"crc32c":"${altered}"`));
      },
    });
    try {
      await assert.rejects(
        client(clouds.gcs.via(proxy.url)).copy({
          src: "local://src/big.bin",
          dst: `${dst.uri}/big.bin`,
        }),
        /verification failed for big\.bin: the store reports crc32c [0-9a-f]{8}, expected [0-9a-f]{8}/,
      );
      assert.ok(proxy.flips() >= 1, "the proxy altered a report");
    } finally {
      await proxy.close();
    }
    assert.equal(await dst.store.head("big.bin"), undefined, "no object left");
  });

  it("a store that silently keeps other bytes: exit 3, the previous version intact", async () => {
    // The destination gateway's local store flips a byte of whatever it is given and reports success.
    const wrapper = path.join(__dirname, "..", "helpers", "corrupting-store.js");
    const dp = await startDataplane({ wrapDestination: wrapper });
    try {
      await dp.src.put("one.bin", one);
      await dp.src.put("big.bin", big);
      await dp.dst.put("one.bin", Buffer.from("the previous version"));
      const run = (src: string, dst: string) =>
        planned(
          dp.home,
          { src, dst, recursive: false },
          { multipartThresholdBytes: 8 << 20, partSizeBytes: 5 << 20 },
        ).then((plan) =>
          runTransfer(
            plan,
            { sources: [dp.client], stores: { home: dp.home }, dstRegion: "local:west" },
            DEFAULT_TRANSFER_OPTIONS,
          ),
        );
      for (const key of ["one.bin", "big.bin"]) {
        const err = await run(`local://src/${key}`, `local://dst/${key}`).then(
          () => assert.fail(`${key} was copied`),
          (e: Error) => e,
        );
        assert.match(err.message, new RegExp(`verification failed for ${key.replace(".", "\\.")}`));
        assert.equal(
          reportError(err, () => undefined),
          EXIT.TRANSFER,
          "the CLI exits 3",
        );
      }
      assert.equal((await dp.dst.get("one.bin")).toString(), "the previous version");
      assert.equal(await dp.dst.head("big.bin"), undefined, "no multipart object");
    } finally {
      await dp.stop();
    }
  });

  it("s3: the store checks the bytes against the hash the source took, which the destination sends", async () => {
    const dst = await clouds.s3.make();
    const dp = await startDataplane({ encrypt: false, destination: dst.uri, env });
    const pool = new SendPool({
      target: { gatewayId: "west-0", host: "127.0.0.1", port: dp.dest.info.dataPort as number },
      connections: 1,
      token: dp.token,
      compress: "none",
    });
    try {
      const data = crypto.randomBytes(1 << 20);
      const md5 = (b: Buffer) => crypto.createHash("md5").update(b).digest("hex");
      const send = (key: string, readHashes?: Record<string, string>) => {
        const req: ChunkRequest = {
          id: crypto.randomBytes(16).toString("hex"),
          srcKey: key,
          dstKey: key,
          offset: 0,
          length: data.length,
          objectSize: data.length,
          ...(readHashes ? { readHashes } : {}),
        };
        return pool.send(req, [data], crc32(data));
      };
      // The MD5 of other bytes, as a source would report of what it read if the bytes changed after.
      const other = Buffer.from(data);
      other[12345] ^= 1;
      await assert.rejects(send("lied.bin", { md5: md5(other) }), /verification failed|BadDigest/);
      assert.equal(await dst.store.head("lied.bin"), undefined, "the store kept nothing");
      // The source's own hash: the store takes the bytes and reports it.
      const stored = await send("read.bin", { md5: md5(data) });
      assert.equal(stored?.[dst.uri]?.hashes.md5, md5(data));
      // One that is not a hash is left out and computed at the destination.
      const computed = await send("odd.bin", { md5: "not a hash" });
      assert.equal(computed?.[dst.uri]?.hashes.md5, md5(data));
      assert.deepEqual(
        readHashesOf({ readHashes: { md5: "x", crc32c: "0a0b0c0d" } } as ChunkRequest, [
          "md5",
          "crc32c",
        ]),
        { crc32c: "0a0b0c0d" },
      );
    } finally {
      await pool.close();
      await dp.stop();
    }
  });

  it("s3: an object read back is read by the destination's gateway, not carried to the runner", async () => {
    const dst = await clouds.s3.make();
    const dp = await startDataplane({ destination: dst.uri, env });
    const dest = new GatewayClient(
      { gatewayId: "west-0", host: "127.0.0.1", controlPort: dp.dest.info.controlPort },
      dp.token,
    );
    let runnerReads = 0;
    const open = (uri: StoreUri, ctx: StoreContext) => {
      const store = openStore(uri, ctx);
      const get = store.get.bind(store);
      store.get = (...args: Parameters<ObjectStore["get"]>) => (runnerReads++, get(...args));
      return store;
    };
    try {
      await dp.src.put("big.bin", big);
      const plan = await planned(
        dp.home,
        { src: "local://src/big.bin", dst: `${dst.uri}/big.bin`, recursive: false },
        { multipartThresholdBytes: 8 << 20, partSizeBytes: 5 << 20 },
      );
      const target = {
        sources: [dp.client],
        stores: { home: dp.home, env },
        dstRegion: "local:west",
      };
      // gofakes3 reports a multipart object's whole MD5, which no part hash predicts: a read-back.
      const result = await runTransfer(
        plan,
        { ...target, destinations: [dest], open },
        DEFAULT_TRANSFER_OPTIONS,
      );
      assert.deepEqual(result.verified, { objects: 1, storeHash: {}, readBack: 1 });
      assert.equal(runnerReads, 0, "the runner read nothing of the destination");
      assert.equal((await dest.status()).stats.bytesReadBack, big.length);
      // Without a destination gateway to ask, the runner reads it back itself.
      const alone = await runTransfer(plan, { ...target, open }, DEFAULT_TRANSFER_OPTIONS);
      assert.equal(alone.verified?.readBack, 1);
      assert.ok(runnerReads >= 3, `the runner read the 3 parts back (${runnerReads} reads)`);
      // So it does when the gateway is an older one, without the read-back route (a warm route's).
      runnerReads = 0;
      const older = {
        status: () => dest.status(),
        readBack: () =>
          Promise.reject(
            new SkyplaneError(
              "GATEWAY_ERROR",
              "gateway west-0: POST /read_back: 404 no route POST /api/v1/read_back",
            ),
          ),
      };
      const fallen = await runTransfer(
        plan,
        { ...target, destinations: [older], open },
        DEFAULT_TRANSFER_OPTIONS,
      );
      assert.equal(fallen.verified?.readBack, 1);
      assert.ok(runnerReads >= 3, `the runner read the parts back itself (${runnerReads} reads)`);
    } finally {
      dest.close();
      await dp.stop();
    }
  });

  it("refuses an object over 5 TiB for S3 before anything is provisioned", async () => {
    const dst = await clouds.s3.make();
    const file = path.join(local.root, "huge.bin");
    const fd = fs.openSync(file, "w");
    fs.ftruncateSync(fd, 5 * 1024 ** 4 + 1); // sparse: takes no space
    fs.closeSync(fd);
    try {
      await assert.rejects(
        client().planCopy({ src: "local://src/huge.bin", dst: `${dst.uri}/huge.bin` }),
        (e: Error & { code?: string }) =>
          e.code === "OBJECT_TOO_LARGE" && /huge\.bin is 5497558138881 bytes/.test(e.message),
      );
    } finally {
      fs.rmSync(file);
    }
  });
});
