import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { compositeChecksum, crc32, formatCrc, listAll, ObjectStore } from "../../stores";

/** Makes an empty bucket, and a store for a bucket that does not exist. */
export interface ConformanceTarget {
  readonly fresh: () => Promise<ObjectStore>;
  readonly missing: () => ObjectStore;
}

/** The behaviour every ObjectStore adapter must show; each adapter's test runs it against a real server. */
export function storeConformance(name: string, target: ConformanceTarget): void {
  describe(`store conformance: ${name}`, function () {
    this.timeout(60_000);
    let store: ObjectStore;
    beforeEach(async () => {
      store = await target.fresh();
    });

    it("puts, heads and gets objects, with ranges, empty objects and odd keys", async () => {
      const data = crypto.randomBytes(100_000);
      const info = await store.put("dir/a.bin", data);
      assert.equal(info.size, data.length);
      assert.equal(info.checksum, formatCrc(crc32(data)));
      const head = await store.head("dir/a.bin");
      assert.equal(head?.size, data.length);
      assert.equal(head?.checksum, info.checksum);
      assert.ok((await store.get("dir/a.bin")).equals(data));
      assert.ok(
        (await store.get("dir/a.bin", { offset: 99_990, length: 100 })).equals(
          data.subarray(99_990),
        ),
      );
      assert.ok(
        (await store.get("dir/a.bin", { offset: 10, length: 5 })).equals(data.subarray(10, 15)),
      );
      await store.put("empty", Buffer.alloc(0));
      assert.equal((await store.head("empty"))?.size, 0);
      assert.equal((await store.get("empty")).length, 0);
      const odd = "with space/ünïcödé ✓ #?&.txt";
      await store.put(odd, Buffer.from("odd"));
      assert.equal((await store.get(odd)).toString(), "odd");
      assert.equal(await store.head("nope"), undefined);
      await store.put("dir/a.bin", Buffer.from("new"));
      assert.equal((await store.get("dir/a.bin")).toString(), "new", "a put replaces the object");
    });

    it("lists with prefixes, delimiters and pagination in byte order", async () => {
      const keys = ["a/1", "a/2", "a/b/3", "a/b/4", "b", "ab", "é", "z/9"];
      for (const k of keys) await store.put(k, Buffer.from(k));
      const all: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ maxKeys: 3, token });
        all.push(...page.objects.map((o) => o.key));
        token = page.nextToken;
        pages++;
      } while (token);
      assert.equal(pages, 3);
      assert.deepEqual(all, ["a/1", "a/2", "a/b/3", "a/b/4", "ab", "b", "z/9", "é"]);
      const level = await store.list({ prefix: "a/", delimiter: "/" });
      assert.deepEqual(
        level.objects.map((o) => o.key),
        ["a/1", "a/2"],
      );
      assert.deepEqual(level.prefixes, ["a/b/"]);
      const root = await store.list({ delimiter: "/" });
      assert.deepEqual(
        [root.prefixes, root.objects.map((o) => o.key)],
        [
          ["a/", "z/"],
          ["ab", "b", "é"],
        ],
      );
      const collected: string[] = [];
      for await (const o of listAll(store, "a/b")) collected.push(o.key);
      assert.deepEqual(collected, ["a/b/3", "a/b/4"]);
    });

    it("assembles a multipart upload only on completion, with parts in any order", async () => {
      const part = 64 * 1024;
      const data = crypto.randomBytes(part * 3 + 17);
      const id = await store.createMultipartUpload("mp/obj", { partSize: part });
      const uploaded = await Promise.all(
        [3, 1, 4, 2].map((n) =>
          store.uploadPart("mp/obj", id, n, data.subarray((n - 1) * part, n * part)),
        ),
      );
      assert.equal(await store.head("mp/obj"), undefined, "not visible before completion");
      const info = await store.completeMultipartUpload("mp/obj", id, uploaded);
      const crcs = [1, 2, 3, 4].map((n) =>
        formatCrc(crc32(data.subarray((n - 1) * part, n * part))),
      );
      assert.equal(info.checksum, compositeChecksum(crcs));
      assert.equal((await store.head("mp/obj"))?.checksum, info.checksum);
      assert.ok((await store.get("mp/obj")).equals(data));
    });

    it("aborts an upload and refuses to complete one with a missing part", async () => {
      const id = await store.createMultipartUpload("mp/x", { partSize: 4 });
      const p1 = await store.uploadPart("mp/x", id, 1, Buffer.from("abcd"));
      await assert.rejects(
        store.completeMultipartUpload("mp/x", id, [p1, { partNumber: 2, checksum: "00000000" }]),
        /never uploaded/,
      );
      await store.abortMultipartUpload("mp/x", id);
      await assert.rejects(
        store.uploadPart("mp/x", id, 2, Buffer.from("efgh")),
        /no multipart upload/,
      );
      assert.equal(await store.head("mp/x"), undefined);
    });

    it("deletes objects, and deleting a missing one is not an error", async () => {
      await store.put("d", Buffer.from("x"));
      await store.delete("d");
      await store.delete("d");
      assert.equal(await store.head("d"), undefined);
    });

    it("names a missing bucket in a clear error", async () => {
      const missing = target.missing();
      assert.equal(await missing.exists(), false);
      await assert.rejects(
        missing.list(),
        (e: Error & { code?: string }) =>
          e.code === "NO_SUCH_BUCKET" && /does not exist/.test(e.message),
      );
      await assert.rejects(missing.put("k", Buffer.from("x")), /does not exist/);
      await assert.rejects(missing.get("k"), /does not exist/);
    });
  });
}
