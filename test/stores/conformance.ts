import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import {
  expectedHashes,
  Hashes,
  HashName,
  hashParts,
  listAll,
  ObjectStore,
  PartHash,
  StoreError,
} from "../../stores";

/**
 * Checks every hash a store reported against the bytes: the whole-object hashes computed from
 * `data`, the per-part composites from its `parts`; returns how many it checked.
 */
async function mustBeHashesOf(
  reported: Hashes | undefined,
  data: Buffer,
  parts: Buffer[],
): Promise<number> {
  const all: PartHash[] = ["crc32", "crc32c", "md5"];
  const whole = await hashParts(all, [data]);
  const partHashes = await Promise.all(
    parts.map(async (p) => ({ size: p.length, hashes: await hashParts(all, [p]) })),
  );
  const composite = await expectedHashes(all, "parts", partHashes, true);
  const truth: Hashes = { ...whole, ...composite };
  let checked = 0;
  for (const [alg, value] of Object.entries(reported ?? {}) as Array<[HashName, string]>) {
    assert.equal(value, truth[alg], `the store's ${alg}`);
    checked++;
  }
  return checked;
}

/** Where an adapter's buckets are made, and stores of buckets that do not exist. */
export interface ConformanceTarget {
  /** A store of a bucket under a new name, not made yet. */
  readonly unmade: () => ObjectStore;
  /** A region id its buckets are made in. */
  readonly region: string;
  /** A region id of another provider, which making a bucket refuses. */
  readonly foreignRegion: string;
  /** True when making a bucket that exists in the same region keeps it (the local store); else CONFLICT. */
  readonly keepsExisting?: boolean;
  /** A store of a bucket that does not exist. */
  readonly missing: () => ObjectStore;
}

/** The behaviour every ObjectStore adapter must show; each adapter's test runs it against a real server. */
export function storeConformance(name: string, target: ConformanceTarget): void {
  describe(`store conformance: ${name}`, function () {
    this.timeout(60_000);
    let store: ObjectStore;
    beforeEach(async () => {
      store = target.unmade();
      await store.createBucket(target.region);
    });

    it("makes its bucket in a region of its provider, refusing another's and one that exists", async () => {
      const made = target.unmade();
      assert.equal(await made.exists(), false);
      await assert.rejects(
        made.createBucket(target.foreignRegion),
        (e: Error) =>
          e instanceof StoreError &&
          e.code === "BAD_REGION" &&
          e.message.endsWith(
            `region (${target.region.split(":")[0]}:…), not ${target.foreignRegion}`,
          ),
      );
      assert.equal(await made.exists(), false, "nothing is made in another provider's region");
      await made.createBucket(target.region);
      assert.equal(await made.exists(), true);
      assert.deepEqual((await made.list()).objects, [], "a new bucket is empty");
      if (target.keepsExisting) {
        await made.put("kept", Buffer.from("k"));
        await made.createBucket(target.region);
        assert.equal((await made.get("kept")).toString(), "k", "the bucket is kept as it was");
      } else {
        await assert.rejects(
          made.createBucket(target.region),
          (e: Error) =>
            e instanceof StoreError && e.code === "CONFLICT" && /exists already/.test(e.message),
        );
      }
    });

    it("puts, heads and gets objects, with ranges, empty objects and odd keys", async () => {
      const data = crypto.randomBytes(100_000);
      const info = await store.put("dir/a.bin", data);
      assert.equal(info.size, data.length);
      assert.ok((await mustBeHashesOf(info.hashes, data, [data])) >= 1, "a put reports a hash");
      const head = await store.head("dir/a.bin");
      assert.equal(head?.size, data.length);
      assert.ok((await mustBeHashesOf(head?.hashes, data, [data])) >= 1, "head reports a hash");
      assert.deepEqual(await store.hashes("dir/a.bin"), head?.hashes);
      assert.ok((await store.get("dir/a.bin")).equals(data));
      assert.ok(
        (await store.get("dir/a.bin", { offset: 99_990, length: 100 })).equals(
          data.subarray(99_990),
        ),
      );
      assert.ok(
        (await store.get("dir/a.bin", { offset: 10, length: 5 })).equals(data.subarray(10, 15)),
      );
      // A reader that looks at the bytes as they land gets each once, in order, as views of the result.
      const big = crypto.randomBytes(2_500_000);
      await store.put("dir/big.bin", big);
      for (const [range, into] of [
        [{ offset: 7, length: 2_400_000 }, Buffer.alloc(2_400_010)],
        [undefined, undefined],
      ] as const) {
        const seen: Buffer[] = [];
        const got = await store.get("dir/big.bin", range, into, (p) => seen.push(Buffer.from(p)));
        const want = range ? big.subarray(range.offset, range.offset + range.length) : big;
        assert.ok(got.equals(want));
        assert.ok(Buffer.concat(seen).equals(want), "every byte once, in order");
        assert.ok(seen.every((p) => p.length > 0));
      }
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
      const parts = [1, 2, 3, 4].map((n) => data.subarray((n - 1) * part, n * part));
      for (const [i, p] of uploaded.entries())
        assert.ok(
          (await mustBeHashesOf(p.hashes, parts[[3, 1, 4, 2][i] - 1], [])) >= 1,
          "a part reports a hash",
        );
      const checked = await mustBeHashesOf(info.hashes, data, parts);
      // Azure computes no hash of a committed block list; every other store reports one.
      assert.equal(checked >= 1, store.features.multipartHash !== "none");
      await mustBeHashesOf((await store.head("mp/obj"))?.hashes, data, parts);
      assert.ok((await store.get("mp/obj")).equals(data));
    });

    it("aborts an upload and refuses to complete one with a missing part", async () => {
      const id = await store.createMultipartUpload("mp/x", { partSize: 4 });
      const p1 = await store.uploadPart("mp/x", id, 1, Buffer.from("abcd"));
      await assert.rejects(
        store.completeMultipartUpload("mp/x", id, [p1, { partNumber: 2 }]),
        /never uploaded/,
      );
      await store.abortMultipartUpload("mp/x", id);
      await assert.rejects(
        store.uploadPart("mp/x", id, 2, Buffer.from("efgh")),
        /no multipart upload/,
      );
      assert.equal(await store.head("mp/x"), undefined);
    });

    it("refuses bytes that do not match the hashes they came with, keeping the old object", async () => {
      await store.put("v", Buffer.from("version one"));
      const bytes = Buffer.from("version two");
      // The hashes of other bytes, as a corrupted upload would arrive with.
      const other = await hashParts(["crc32", "crc32c", "md5"], [Buffer.from("version 2wo")]);
      await assert.rejects(
        store.put("v", bytes, { crc32: parseInt(other.crc32 as string, 16), hashes: other }),
        (e: Error) =>
          e instanceof StoreError &&
          e.code === "CHECKSUM_MISMATCH" &&
          /^verification failed for v: /.test(e.message),
      );
      assert.equal((await store.get("v")).toString(), "version one", "the old object is intact");
      const id = await store.createMultipartUpload("mp/v", { partSize: 11 });
      await assert.rejects(
        store.uploadPart("mp/v", id, 1, bytes, {
          crc32: parseInt(other.crc32 as string, 16),
          hashes: other,
        }),
        /verification failed for mp\/v/,
      );
      await store.abortMultipartUpload("mp/v", id);
    });

    it("refuses a large body in pieces (which S3 streams) that does not match its hashes", async () => {
      const good = crypto.randomBytes(3 * 1024 * 1024);
      const bad = Buffer.from(good);
      bad[bad.length - 7] ^= 0x20;
      const given = await hashParts(["crc32", "crc32c", "md5"], [good]);
      const opts = { crc32: parseInt(given.crc32 as string, 16), hashes: given };
      const inPieces = (b: Buffer) => [
        b.subarray(0, 1000),
        b.subarray(1000, 2 << 20),
        b.subarray(2 << 20),
      ];
      await assert.rejects(
        store.put("big", inPieces(bad), opts),
        (e: Error) => e instanceof StoreError && e.code === "CHECKSUM_MISMATCH",
      );
      assert.equal(await store.head("big"), undefined, "nothing is left of the refused write");
      const written = await store.put("big", inPieces(good), opts);
      assert.equal(written.size, good.length);
      assert.ok((await store.get("big")).equals(good), "the pieces land in order");
      const id = await store.createMultipartUpload("mp/big", { partSize: good.length });
      await assert.rejects(
        store.uploadPart("mp/big", id, 1, inPieces(bad), opts),
        /verification failed for mp\/big/,
      );
      const part = await store.uploadPart("mp/big", id, 1, inPieces(good), opts);
      const done = await store.completeMultipartUpload("mp/big", id, [part]);
      assert.equal(done.size, good.length);
      assert.ok((await store.get("mp/big")).equals(good));
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
