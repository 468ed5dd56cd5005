import * as assert from "node:assert/strict";
import fc from "fast-check";
import { destinationKey, planChunks } from "../../runner/chunker";

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
