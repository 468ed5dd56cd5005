import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import fc from "fast-check";
import { header, iv, range, Receiving } from "../../bench/baseline-copy";

/** What a sender puts on connection `c` for `rounds` rounds of `data`'s range `r`, as bytes. */
function wire(
  data: Buffer,
  r: { offset: number; length: number },
  c: number,
  rounds: number,
  key?: Buffer,
) {
  const parts: Buffer[] = [];
  for (let round = 0; round < rounds; round++) {
    parts.push(header(r));
    const body = data.subarray(r.offset, r.offset + r.length);
    if (!key) {
      parts.push(body);
      continue;
    }
    const cipher = crypto.createCipheriv("aes-256-gcm", key, iv(round, c));
    parts.push(cipher.update(body), cipher.final(), cipher.getAuthTag());
  }
  return Buffer.concat(parts);
}

/** Feeds `bytes` to a receiver in pieces cut at `cuts`; returns what it wrote and how many ranges it delivered. */
async function receive(bytes: Buffer, cuts: number[], size: number, c: number, key?: Buffer) {
  const out = Buffer.alloc(size);
  let delivered = 0;
  const r = new Receiving(
    c,
    key,
    () => (data, at) => void data.copy(out, at),
    () => delivered++,
  );
  const at = [...new Set(cuts.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...at, bytes.length]) {
    await r.take(bytes.subarray(from, to));
    from = to;
  }
  return { out, delivered };
}

describe("bench/baseline-copy: the baselines' framing", () => {
  it("splits bytes into one range per connection that together cover them exactly", () => {
    for (const [bytes, n] of [
      [10, 3],
      [2, 4],
      [1 << 20, 2],
    ]) {
      const ranges = Array.from({ length: n }, (_, c) => range(bytes, c, n));
      assert.equal(
        ranges.reduce((s, r) => s + r.length, 0),
        bytes,
      );
      ranges
        .slice(1)
        .forEach((r, i) => assert.equal(r.offset, ranges[i].offset + ranges[i].length));
    }
  });

  it("delivers each round's range whole, wherever the reads cut the stream, with and without the cipher", async () => {
    const key = crypto.randomBytes(32);
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.boolean(),
        async (size, cuts, encrypted) => {
          runs++;
          const data = crypto.randomBytes(size);
          const r = range(size, 1, 2);
          const k = encrypted ? key : undefined;
          const got = await receive(wire(data, r, 1, 2, k), cuts, size, 1, k);
          assert.equal(got.delivered, 2);
          assert.deepEqual(
            got.out.subarray(r.offset, r.offset + r.length),
            data.subarray(r.offset, r.offset + r.length),
          );
        },
      ),
      { numRuns: 200 },
    );
    assert.equal(runs, 200);
  });

  it("refuses a range whose bytes were changed on the way (the GCM tag)", async () => {
    const key = crypto.randomBytes(32);
    const data = crypto.randomBytes(4096);
    const bytes = wire(data, range(4096, 0, 1), 0, 1, key);
    bytes[100] ^= 1;
    await assert.rejects(receive(bytes, [50, 3000], 4096, 0, key), /unable to authenticate/i);
  });
});
