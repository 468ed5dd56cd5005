import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checkOverlap, overlapOf } from "../../runner/overlap";
import { SkyplaneClient, UserError } from "../../runner";
import { LocalStore, localBucketRoot, parseStoreUri } from "../../stores";

describe("runner/overlap", () => {
  let home: string;
  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-overlap-"));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("tells overlapping sources and destinations from those apart, at segment boundaries", () => {
    const folder = path.join(home, "folder");
    fs.mkdirSync(path.join(folder, "inner"), { recursive: true });
    fs.symlinkSync(path.join(folder, "inner"), path.join(home, "link"));
    const cases: Array<[string, string, ReturnType<typeof overlapOf>]> = [
      ["local://bkt/data/src", "local://bkt/data", "src-in-dst"],
      ["local://bkt/data", "local://bkt/data/copy/", "dst-in-src"],
      ["local://bkt/data/", "local://bkt/data", "same"],
      ["local://bkt", "local://bkt/x", "dst-in-src"],
      ["local://bkt/data", "local://bkt/database", undefined],
      ["local://bkt/data", "local://other/data", undefined],
      [`${home}/buckets/bkt/data`, "local://bkt/data/x", "dst-in-src"], // the bucket's own folder
      [`${home}/link`, folder, "src-in-dst"], // through a symbolic link
      [`${home}/link`, `${folder}/innerx`, undefined],
      ["s3://bkt/a", "s3://bkt/a/b", "dst-in-src"],
      ["s3://bkt/a", "gs://bkt/a", undefined],
    ];
    for (const [src, dst, want] of cases) {
      assert.equal(
        overlapOf(parseStoreUri(src), parseStoreUri(dst), { home }),
        want,
        `${src} → ${dst}`,
      );
    }
  });

  it("refuses --delete with an overlap and warns without it", () => {
    const [src, dst] = ["local://bkt/data/src", "local://bkt/data"];
    const uris = [parseStoreUri(src), parseStoreUri(dst)] as const;
    assert.throws(
      () => checkOverlap({ src, dst, delete: true }, ...uris, { home }),
      (err: UserError) => err instanceof UserError && err.code === "OVERLAP",
    );
    assert.match(
      checkOverlap({ src, dst }, ...uris, { home }) ?? "",
      /^local:\/\/bkt\/data\/src is inside local:\/\/bkt\/data: /,
    );
    assert.equal(
      checkOverlap({ src, dst: "local://bkt/other" }, uris[0], parseStoreUri("local://bkt/other"), {
        home,
      }),
      undefined,
    );
  });

  it("client.sync refuses an overlapping --delete before provisioning, and deletes nothing", async () => {
    const store = await LocalStore.createBucket(
      "api-bkt",
      localBucketRoot({ home }, "api-bkt"),
      "local:east",
    );
    await store.put("data/src/a.txt", Buffer.from("a"));
    const client = new SkyplaneClient({ home });
    await assert.rejects(
      client.sync({
        src: "local://api-bkt/data/src",
        dst: "local://api-bkt/data",
        delete: true,
        recursive: true,
      }),
      (err: UserError) => err instanceof UserError && err.code === "OVERLAP",
    );
    assert.deepEqual(
      (await store.list()).objects.map((o) => o.key),
      ["data/src/a.txt"],
    );
    assert.equal(fs.existsSync(path.join(home, "state")), false, "no engine was opened");
    const plan = await client.planCopy({
      src: "local://api-bkt/data",
      dst: "local://api-bkt/data/copy",
      recursive: true,
    });
    assert.equal(plan.warnings.length, 1);
    assert.match(
      plan.warnings[0],
      /local:\/\/api-bkt\/data\/copy is inside local:\/\/api-bkt\/data/,
    );
  });
});
