import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SkyplaneClient } from "../../runner";
import { LocalStore, localBucketRoot } from "../../stores";

/* Objects copied into a local bucket through gateways keep their source file's mode (0600 by default). */
describe("api: file modes through a transfer", function () {
  this.timeout(180_000);
  let home: string;
  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-modes-"));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("gives each copied object its source's mode, small and multipart alike, whatever the umask", async () => {
    const src = await LocalStore.createBucket(
      "m-src",
      localBucketRoot({ home }, "m-src"),
      "local:east",
    );
    await LocalStore.createBucket("m-dst", localBucketRoot({ home }, "m-dst"), "local:west");
    const modes: Record<string, number> = {
      "shared.txt": 0o644,
      "group.txt": 0o640,
      "private.txt": 0o600,
      "big.bin": 0o640, // above the multipart threshold
    };
    for (const [key, mode] of Object.entries(modes)) {
      const file = path.join(src.root, key);
      fs.writeFileSync(file, crypto.randomBytes(key === "big.bin" ? 10 << 20 : 1000));
      fs.chmodSync(file, mode);
    }
    const client = new SkyplaneClient({
      home,
      transferConfig: { multipartThresholdBytes: 8 << 20, partSizeBytes: 4 << 20 },
    });
    const umask = process.umask(0o022);
    try {
      await client.copy({ src: "local://m-src/", dst: "local://m-dst/copy/", recursive: true });
    } finally {
      process.umask(umask);
    }
    const dst = path.join(localBucketRoot({ home }, "m-dst"), "copy");
    const got = Object.fromEntries(
      fs
        .readdirSync(dst)
        .map((f) => [f, (fs.statSync(path.join(dst, f)).mode & 0o777).toString(8)]),
    );
    assert.deepEqual(
      got,
      Object.fromEntries(Object.entries(modes).map(([k, m]) => [k, m.toString(8)])),
    );
  });
});
