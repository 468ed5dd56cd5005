import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseRegion } from "../../common/regions";
import { SkyplaneClient } from "../../runner";
import {
  AzureStore,
  crc32,
  formatCrc,
  GcsStore,
  listAll,
  LocalStore,
  localBucketRoot,
  ObjectStore,
  S3Store,
} from "../../stores";
import { AZURITE_ACCOUNT } from "../../scripts/emulators";
import { emulators } from "../helpers/emulators";

/*
 * Cross-store transfers through gateways provisioned on the local cloud: every ordered pair of a local
 * bucket, S3 (gofakes3), GCS (fake-gcs-server) and Azure Blob (Azurite), a copy and a sync each, with a
 * multipart object, many small objects and an empty one; every object checked by its bytes' CRC-32.
 */
describe("integration: cp and sync between every pair of stores", function () {
  this.timeout(600_000);
  let home: string;
  let client: SkyplaneClient;
  const saved: NodeJS.ProcessEnv = {};
  const stores: Record<string, { uri: string; store: ObjectStore }> = {};
  const objects: Record<string, Buffer> = {};

  before(async () => {
    const env = (await emulators()).env;
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v; // the runner and the gateways it provisions read the stores' variables
    }
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-xstore-"));
    // Parts of 5 MiB: S3 refuses smaller ones (but the last).
    client = new SkyplaneClient({
      home,
      transferConfig: { multipartThresholdBytes: 8 << 20, partSizeBytes: 5 << 20 },
    });
    const tag = crypto.randomBytes(3).toString("hex");
    const local = await LocalStore.createBucket(
      `xs-local-${tag}`,
      localBucketRoot({ home }, `xs-local-${tag}`),
      "local:south",
    );
    const s3 = new S3Store(`xs-s3-${tag}`);
    await s3.createBucket("aws:us-east-1");
    const gcs = new GcsStore(`xs-gcs-${tag}`);
    await gcs.createBucket("gcp:us-central1");
    const azure = new AzureStore(`${AZURITE_ACCOUNT}/xs-az-${tag}`);
    await azure.createBucket("azure:westeurope");
    stores.local = { uri: `local://xs-local-${tag}`, store: local };
    stores.s3 = { uri: `s3://xs-s3-${tag}`, store: s3 };
    stores.gcs = { uri: `gs://xs-gcs-${tag}`, store: gcs };
    stores.azure = { uri: `azure://${AZURITE_ACCOUNT}/xs-az-${tag}`, store: azure };
    objects["big.bin"] = crypto.randomBytes(12 << 20); // 3 parts
    objects["empty"] = Buffer.alloc(0);
    for (let i = 0; i < 25; i++)
      objects[`small/${String(i).padStart(2, "0")}.txt`] = crypto.randomBytes(100 + i * 37);
    for (const { store } of Object.values(stores)) {
      for (const [k, v] of Object.entries(objects)) await store.put(`src/${k}`, v);
    }
  });
  after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(home, { recursive: true, force: true });
  });

  async function contents(store: ObjectStore, prefix: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for await (const o of listAll(store, prefix))
      out[o.key.slice(prefix.length)] = formatCrc(crc32(await store.get(o.key)));
    return out;
  }

  const names = ["local", "s3", "gcs", "azure"];
  const expected = () =>
    Object.fromEntries(Object.entries(objects).map(([k, v]) => [k, formatCrc(crc32(v))]));
  for (const from of names) {
    for (const to of names) {
      if (from === to) continue;
      it(`${from} → ${to}`, async () => {
        const src = stores[from];
        const dst = stores[to];
        const [s, d] = [await src.store.region(), await dst.store.region()].map((r) =>
          parseRegion(r as string),
        );
        const dp = client.dataplane(s.provider, s.name, d.provider, d.name);
        const results = await dp.autoDeprovision(async () => {
          await dp.provision();
          dp.queueCopy(`${src.uri}/src/`, `${dst.uri}/from-${from}/cp/`, { recursive: true });
          dp.queueSync(`${src.uri}/src/`, `${dst.uri}/from-${from}/sync/`);
          return dp.run();
        });
        assert.deepEqual(
          results.map((r) => r.objects),
          [27, 27],
        );
        assert.deepEqual(await contents(dst.store, `from-${from}/cp/`), expected(), "copy");
        assert.deepEqual(await contents(dst.store, `from-${from}/sync/`), expected(), "sync");
      });
    }
  }

  for (const cloud of ["s3", "gcs", "azure"]) {
    it(`a folder ↔ ${cloud}: on the client's gateways alone, both ways`, async () => {
      const { uri, store } = stores[cloud];
      const folder = fs.mkdtempSync(path.join(home, "folder-"));
      for (const [k, v] of Object.entries(objects)) {
        fs.mkdirSync(path.dirname(path.join(folder, "up", k)), { recursive: true });
        fs.writeFileSync(path.join(folder, "up", k), v);
      }
      const plan = await client.planCopy({
        src: path.join(folder, "up") + "/",
        dst: `${uri}/from-folder/`,
        recursive: true,
      });
      try {
        assert.deepEqual(
          [plan.topology.route, plan.topology.regions.map((r) => r.region), plan.stackName],
          [
            { src: "local:client", dsts: ["local:client"] },
            ["local:client"],
            "local-client--local-client",
          ],
        );
        // The bucket keeps its own region; only the gateways that reach it are the client's.
        assert.deepEqual(
          [plan.dst.region, plan.dst.gateways],
          [await store.region(), "local:client"],
        );
      } finally {
        await plan[Symbol.asyncDispose]();
      }
      const up = await client.copy({
        src: path.join(folder, "up") + "/",
        dst: `${uri}/from-folder/`,
        recursive: true,
      });
      // Its gateways are the client's own children: no engine run, no stack (runner/children.ts).
      assert.deepEqual(
        [up.objects, up.stack, up.provision?.how, up.provision?.engineRuns],
        [27, "local-client--local-client", "children", []],
      );
      assert.deepEqual(await contents(store, "from-folder/"), expected(), "uploaded");
      const down = await client.copy({
        src: `${uri}/src/`,
        dst: path.join(folder, "down") + "/",
        recursive: true,
      });
      assert.deepEqual(
        [down.objects, down.stack, down.provision?.how],
        [27, "local-client--local-client", "children"],
      );
      const downloaded = path.join(folder, "down");
      const files = (fs.readdirSync(downloaded, { recursive: true }) as string[]).filter((f) =>
        fs.statSync(path.join(downloaded, f)).isFile(),
      );
      assert.deepEqual(
        Object.fromEntries(
          files.sort().map((f) => [f, formatCrc(crc32(fs.readFileSync(path.join(downloaded, f))))]),
        ),
        Object.fromEntries(Object.entries(expected()).sort(([a], [b]) => a.localeCompare(b))),
        "downloaded",
      );
    });
  }
});
