import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import fc from "fast-check";
import { crc32, crcCombine, expectedHashes, hashParts, sharedHash } from "../../stores";
import { s3Hashes } from "../../stores/s3";
import { gcsHashes } from "../../stores/gcs";

describe("stores/hashes: the checksum vocabulary", () => {
  it("continues a CRC-32 over an empty buffer unchanged (Node's zlib answers 0 for some)", () => {
    assert.equal(crc32(crypto.randomBytes(0), 0x1234abcd), 0x1234abcd);
    assert.equal(crc32(Buffer.alloc(0), 0x1234abcd), 0x1234abcd);
  });

  it("knows the check values of CRC-32, CRC-32C and MD5", async () => {
    assert.deepEqual(await hashParts(["crc32", "crc32c", "md5"], [Buffer.from("123456789")]), {
      crc32: "cbf43926",
      crc32c: "e3069283",
      md5: "25f9e794323b453885f5181f1b624d0b",
    });
  });

  it("combines the CRCs of two runs into the CRC of both (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 300 }),
        async (a, b) => {
          for (const alg of ["crc32", "crc32c"] as const) {
            const [ha, hb, hab] = await Promise.all([
              hashParts([alg], [a]),
              hashParts([alg], [b]),
              hashParts([alg], [a, b]),
            ]);
            const combined = crcCombine(
              alg,
              parseInt(ha[alg]!, 16),
              parseInt(hb[alg]!, 16),
              b.length,
            );
            assert.equal(combined.toString(16).padStart(8, "0"), hab[alg]);
          }
        },
      ),
    );
  });

  it("predicts a multipart object's hashes from its parts' hashes", async () => {
    const data = crypto.randomBytes(10_000);
    const parts = [data.subarray(0, 4096), data.subarray(4096, 8192), data.subarray(8192)];
    const partHashes = await Promise.all(
      parts.map(async (p) => ({ size: p.length, hashes: await hashParts(["crc32c", "md5"], [p]) })),
    );
    // GCS composes: the CRC-32C of the whole object.
    const whole = await hashParts(["crc32c"], [data]);
    assert.deepEqual(await expectedHashes(["crc32c", "md5"], "combined", partHashes, true), {
      crc32c: whole.crc32c,
    });
    // S3: the MD5 of the parts' MD5s, and the CRC-32C of the parts' CRC-32Cs, each with "-3".
    const md5s = Buffer.concat(partHashes.map((p) => Buffer.from(p.hashes.md5!, "hex")));
    const crcs = Buffer.concat(partHashes.map((p) => Buffer.from(p.hashes.crc32c!, "hex")));
    assert.deepEqual(await expectedHashes(["crc32c", "md5"], "parts", partHashes, true), {
      "md5-parts": `${crypto.createHash("md5").update(md5s).digest("hex")}-3`,
      "crc32c-parts": `${(await hashParts(["crc32c"], [crcs])).crc32c}-3`,
    });
    // Azure keeps no hash of a block list.
    assert.deepEqual(await expectedHashes(["md5"], "none", partHashes, true), {});
  });

  it("reads the stores' own hashes and nothing else", () => {
    const md5 = "25f9e794323b453885f5181f1b624d0b";
    assert.deepEqual(s3Hashes(`"${md5}"`, "4waSgw=="), { md5, crc32c: "e3069283" });
    assert.deepEqual(s3Hashes(`"${md5}-12"`, "4waSgw==-12"), {
      "md5-parts": `${md5}-12`,
      "crc32c-parts": "e3069283-12",
    });
    // An SSE-KMS ETag is no MD5 of the bytes.
    assert.deepEqual(s3Hashes(`"${"f".repeat(64)}"`), {});
    assert.deepEqual(
      gcsHashes({ crc32c: "4waSgw==", md5Hash: Buffer.from(md5, "hex").toString("base64") }),
      {
        crc32c: "e3069283",
        md5,
      },
    );
    assert.deepEqual(sharedHash({ md5, crc32: "1" }, { md5: "x", crc32c: "2" }), {
      alg: "md5",
      a: md5,
      b: "x",
    });
    assert.equal(sharedHash({ crc32: "1" }, { md5 }), undefined);
  });
});
