import * as assert from "node:assert/strict";
import fc from "fast-check";
import { DEFAULT_CHUNKING, destinationKey, planChunks } from "../../runner/chunker";

describe("runner/chunker", () => {
  const opts = { multipartThresholdBytes: 100, partSizeBytes: 40 };

  it("sends small and empty objects whole, and large ones in parts", () => {
    let n = 0;
    const id = () => String(++n).padStart(32, "0");
    const { objects, chunks } = planChunks(
      [
        { srcKey: "s", dstKey: "d", size: 100 },
        { srcKey: "e", dstKey: "e", size: 0 },
        { srcKey: "l", dstKey: "l", size: 101 },
      ],
      opts,
      id,
    );
    assert.deepEqual(
      chunks.map((c) => [c.srcKey, c.offset, c.length, c.part?.number]),
      [
        ["s", 0, 100, undefined],
        ["e", 0, 0, undefined],
        ["l", 0, 40, 1],
        ["l", 40, 40, 2],
        ["l", 80, 21, 3],
      ],
    );
    assert.deepEqual(
      objects.map((o) => [o.srcKey, o.multipart, o.chunkIds.length]),
      [
        ["s", false, 1],
        ["e", false, 1],
        ["l", true, 3],
      ],
    );
  });

  it("covers every byte of every object exactly once (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 10_000 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 3000 }),
        (sizes, threshold, part) => {
          const objs = sizes.map((size, i) => ({ srcKey: `k${i}`, dstKey: `k${i}`, size }));
          const { chunks } = planChunks(objs, {
            multipartThresholdBytes: threshold,
            partSizeBytes: part,
          });
          for (const o of objs) {
            const mine = chunks.filter((c) => c.srcKey === o.srcKey);
            let at = 0;
            for (const c of mine) {
              assert.equal(c.offset, at);
              assert.ok(c.length <= (o.size > threshold ? part : o.size));
              at += c.length;
            }
            assert.equal(at, o.size);
            assert.ok(mine.length >= 1);
          }
          assert.equal(new Set(chunks.map((c) => c.id)).size, chunks.length, "ids are unique");
        },
      ),
    );
  });

  it("keeps every multipart upload within S3's 10,000 parts of at most 5 GiB", () => {
    const GiB = 1024 ** 3;
    const MiB = 1024 ** 2;
    const sizes = [1 * GiB, 100 * GiB, 1024 * GiB, 5 * 1024 * GiB];
    const parts: number[] = [];
    for (const size of sizes) {
      const { objects, chunks } = planChunks(
        [{ srcKey: "huge", dstKey: "huge", size }],
        DEFAULT_CHUNKING,
        () => "0".repeat(32),
      );
      assert.equal(objects.length, 1);
      assert.ok(chunks.length <= 10_000, `${size} bytes: ${chunks.length} parts`);
      assert.ok(
        chunks.every((c) => c.length <= 5 * GiB),
        `${size} bytes: parts of at most 5 GiB`,
      );
      assert.equal(objects[0].partSize % MiB, 0, "the part size is whole MiB");
      assert.equal(
        chunks.reduce((n, c) => n + c.length, 0),
        size,
        "the parts cover the object",
      );
      parts.push(chunks.length);
    }
    // The configured 64 MiB while it fits; larger parts only where the count would pass 10,000.
    assert.deepEqual(parts, [16, 1600, 9_987, 9_987]);
  });

  it("maps source keys to destination keys like cp", () => {
    const cases: Array<[string, string, string, boolean, string]> = [
      ["data/a/b.txt", "data", "copy", true, "copy/a/b.txt"],
      ["data/a/b.txt", "data/", "copy/", true, "copy/a/b.txt"],
      ["data/a/b.txt", "", "", true, "data/a/b.txt"],
      ["data/b.txt", "data/b.txt", "x/", false, "x/b.txt"],
      ["data/b.txt", "data/b.txt", "", false, "b.txt"],
      ["data/b.txt", "data/b.txt", "renamed.txt", false, "renamed.txt"],
    ];
    for (const [key, src, dst, recursive, want] of cases) {
      assert.equal(destinationKey(key, src, dst, recursive), want, `${key} ${src} → ${dst}`);
    }
  });
});
