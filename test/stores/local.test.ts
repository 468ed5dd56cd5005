import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pLimit from "p-limit";
import {
  crc32,
  formatCrc,
  LocalStore,
  localBucketRoot,
  openStore,
  parseStoreUri,
  bucketUri,
} from "../../stores";
import { storeConformance } from "./conformance";

describe("stores/local", () => {
  let home: string;
  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-store-"));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));
  let n = 0;

  storeConformance("local", {
    unmade: () => new LocalStore(`b${++n}`, localBucketRoot({ home }, `bucket-${n}`)),
    region: "local:east",
    foreignRegion: "aws:us-east-1",
    keepsExisting: true,
    missing: () => new LocalStore("missing", path.join(home, "no-such-bucket")),
  });

  it("pages a delimited listing by objects and prefixes together", async () => {
    // (Emulators count only objects against the page size, so this is the local store's own test.)
    const store = await LocalStore.createBucket(
      "paged",
      localBucketRoot({ home }, "paged"),
      "local:east",
    );
    for (const k of ["a/1", "ab", "b", "z/9"]) await store.put(k, Buffer.from(k));
    const root = await store.list({ delimiter: "/", maxKeys: 2 });
    assert.deepEqual([root.prefixes, root.objects.map((o) => o.key)], [["a/"], ["ab"]]);
    const rest = await store.list({ delimiter: "/", maxKeys: 2, token: root.nextToken });
    assert.deepEqual([rest.objects.map((o) => o.key), rest.prefixes], [["b"], ["z/"]]);
  });

  it("records the bucket's region and refuses to move it", async () => {
    const root = localBucketRoot({ home }, "regional");
    const store = await LocalStore.createBucket("regional", root, "local:west");
    assert.equal(await store.region(), "local:west");
    await LocalStore.createBucket("regional", root, "local:west");
    await assert.rejects(
      LocalStore.createBucket("regional", root, "local:east"),
      /already exists in local:west/,
    );
  });

  it("keeps skyplane's records out of listings and refuses keys that escape the bucket", async () => {
    const store = await LocalStore.createBucket(
      "keys",
      localBucketRoot({ home }, "keys"),
      "local:east",
    );
    await store.put("a", Buffer.from("a"));
    assert.deepEqual(
      (await store.list()).objects.map((o) => o.key),
      ["a"],
    );
    for (const bad of ["../x", "a/../../x", "/abs", "a//b", ".skyplane/bucket.json", ""]) {
      await assert.rejects(store.put(bad, Buffer.from("x")), /cannot hold the key/, bad);
    }
  });

  it("leaves nothing but the objects in a plain folder", async () => {
    const folder = path.join(home, "plain-folder");
    const store = openStore(parseStoreUri(folder), { home }) as LocalStore;
    fs.mkdirSync(folder);
    await store.put("a/b.txt", Buffer.from("x"));
    const id = await store.createMultipartUpload("big", { partSize: 2 });
    const p1 = await store.uploadPart("big", id, 1, Buffer.from("ab"));
    const p2 = await store.uploadPart("big", id, 2, Buffer.from("c"));
    assert.deepEqual(
      (await store.list()).objects.map((o) => o.key),
      ["a/b.txt"],
      "an open upload is not listed",
    );
    await store.completeMultipartUpload("big", id, [p1, p2]);
    const all: string[] = [];
    const walk = (d: string, rel = ""): void =>
      fs
        .readdirSync(d, { withFileTypes: true })
        .forEach((e) =>
          e.isDirectory() ? walk(path.join(d, e.name), rel + e.name + "/") : all.push(rel + e.name),
        );
    walk(folder);
    assert.deepEqual(all.sort(), ["a/b.txt", "big"]);
    assert.equal(
      (await store.head("big"))?.hashes?.crc32,
      formatCrc(crc32(Buffer.from("abc"))),
      "records kept under the home",
    );
  });

  it("writes objects 0600 and folders 0700 whatever the umask, or the mode a write asks for", async () => {
    const umask = process.umask(0o022);
    try {
      const store = await LocalStore.createBucket(
        "modes",
        localBucketRoot({ home }, "modes"),
        "local:east",
      );
      await store.put("a/b/small", Buffer.from("x"));
      await store.put("kept", Buffer.from("y"), { mode: 0o640 });
      const id = await store.createMultipartUpload("c/big", { partSize: 2 });
      const parts = [
        await store.uploadPart("c/big", id, 1, Buffer.from("ab")),
        await store.uploadPart("c/big", id, 2, Buffer.from("c")),
      ];
      await store.completeMultipartUpload("c/big", id, parts);
      const modes: Record<string, string> = {};
      const walk = (d: string, rel: string): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          modes[rel + e.name] = (fs.statSync(p).mode & 0o777).toString(8);
          if (e.isDirectory()) walk(p, rel + e.name + "/");
        }
      };
      modes["."] = (fs.statSync(store.root).mode & 0o777).toString(8);
      walk(store.root, "");
      assert.equal(modes["a/b/small"], "600");
      assert.equal(modes["c/big"], "600");
      assert.equal(modes["kept"], "640", "a write's own mode wins");
      const others = Object.entries(modes).filter(([k]) => k !== "kept");
      assert.ok(others.length >= 10, `looked at ${others.length} entries`);
      for (const [k, m] of others) assert.ok(m === "600" || m === "700", `${k} is ${m}`);
    } finally {
      process.umask(umask);
    }
  });

  it("holds a key whose last segment is 255 bytes, by put and by multipart upload", async () => {
    const store = await LocalStore.createBucket(
      "long",
      localBucketRoot({ home }, "long"),
      "local:east",
    );
    const name = "n".repeat(251) + ".bin"; // NAME_MAX on ext4, xfs, tmpfs
    assert.equal(Buffer.byteLength(name), 255);
    await store.put(`dir/${name}`, Buffer.from("whole"));
    const id = await store.createMultipartUpload(name, { partSize: 3 });
    const parts = [
      await store.uploadPart(name, id, 1, Buffer.from("abc")),
      await store.uploadPart(name, id, 2, Buffer.from("d")),
    ];
    await store.completeMultipartUpload(name, id, parts);
    assert.deepEqual(
      (await store.list()).objects.map((o) => [o.key, o.size]),
      [
        [`dir/${name}`, 5],
        [name, 4],
      ],
    );
    assert.equal((await store.get(name)).toString(), "abcd");
  });

  it("never writes through a symbolic link out of a destination folder", async () => {
    const folder = path.join(home, "linked-folder");
    const outside = path.join(home, "outside-folder");
    fs.mkdirSync(folder);
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(folder, "escape"));
    fs.mkdirSync(path.join(folder, "real"));
    fs.symlinkSync(path.join(folder, "real"), path.join(folder, "inside"));
    const store = openStore(parseStoreUri(folder), { home }) as LocalStore;
    await assert.rejects(
      store.put("escape/x.txt", Buffer.from("x")),
      /escape is a symbolic link out of the destination folder: remove it, or choose another destination/,
    );
    await assert.rejects(
      store.createMultipartUpload("escape/sub/big", { partSize: 2 }),
      /escape is a symbolic link out of/,
    );
    fs.writeFileSync(path.join(outside, "kept.txt"), "kept");
    await assert.rejects(store.delete("escape/kept.txt"), /escape is a symbolic link out of/);
    assert.deepEqual(fs.readdirSync(outside), ["kept.txt"], "nothing was written outside");
    // A link to a file outside is replaced by the object, never written through.
    fs.symlinkSync(path.join(outside, "kept.txt"), path.join(folder, "file-link.txt"));
    await store.put("file-link.txt", Buffer.from("new"));
    assert.equal(fs.readFileSync(path.join(outside, "kept.txt"), "utf8"), "kept");
    assert.equal(fs.lstatSync(path.join(folder, "file-link.txt")).isFile(), true);
    // A link that stays inside the folder is fine.
    await store.put("inside/y.txt", Buffer.from("y"));
    assert.equal(fs.readFileSync(path.join(folder, "real", "y.txt"), "utf8"), "y");
  });

  it("removes the work files of writers that are gone, and keeps a live writer's", async () => {
    const folder = path.join(home, "work-folder");
    fs.mkdirSync(folder);
    const store = openStore(parseStoreUri(folder), { home }) as LocalStore;
    // A writer of this process, mid-upload: alive.
    const id = await store.createMultipartUpload("live.bin", { partSize: 4 });
    await store.uploadPart("live.bin", id, 1, Buffer.from("abcd"));
    // A writer that is gone (a finished process), killed mid-put: its work folder is named after it.
    const gone = spawnSync(process.execPath, ["-e", ""]);
    assert.equal(gone.status, 0);
    const orphan = path.join(folder, ".skyplane", "tmp", `${gone.pid}-1`);
    fs.mkdirSync(orphan, { recursive: true });
    fs.writeFileSync(path.join(orphan, "put-0123456789ab"), "partial");
    // And an upload it was making when it was killed (its record is renamed into place when whole).
    const staging = path.join(store.records, "uploads", `.${"ab".repeat(12)}.${gone.pid}-1`);
    fs.mkdirSync(path.join(staging, "parts"), { recursive: true });
    assert.deepEqual(
      (await store.list()).objects.map((o) => o.key),
      [],
      "work files are never listed",
    );
    assert.equal(await store.cleanupTemporaries(), 1);
    assert.equal(fs.existsSync(orphan), false);
    assert.equal(fs.existsSync(staging), false);
    assert.deepEqual(
      fs.readdirSync(path.join(store.records, "uploads")),
      [id],
      "the live upload stays",
    );
    const parts = [{ partNumber: 1, checksum: formatCrc(crc32(Buffer.from("abcd"))) }];
    await store.completeMultipartUpload("live.bin", id, parts);
    assert.equal(await store.cleanupTemporaries(), 0);
    assert.deepEqual(
      fs.readdirSync(folder),
      ["live.bin"],
      "the folder holds its files and nothing else",
    );
  });

  it("removes a dead writer's upload though a live gateway still adds parts to it as it goes", async () => {
    const store = new LocalStore("race", localBucketRoot({ home }, "race"));
    await store.createBucket("local:east");
    const gone = spawnSync(process.execPath, ["-e", ""]);
    // An upload of a killed client, which a warm route's gateway still writes parts of.
    const upload = path.join(store.records, "uploads", `.${"cd".repeat(12)}.${gone.pid}-1`);
    fs.mkdirSync(path.join(upload, "parts"), { recursive: true });
    // The first removal meets a part marker written while it ran, as `rm -r` then does: ENOTEMPTY.
    const fsp = nodeFs.promises;
    const rm = fsp.rm;
    let calls = 0;
    fsp.rm = async (target, opts) => {
      if (target === upload && calls++ === 0) {
        fs.writeFileSync(path.join(upload, "parts", "7"), "{}");
        throw Object.assign(new Error(`ENOTEMPTY: directory not empty, rmdir '${upload}/parts'`), {
          code: "ENOTEMPTY",
        });
      }
      return rm(target, opts);
    };
    try {
      assert.equal(await store.cleanupTemporaries(), 0);
    } finally {
      fsp.rm = rm;
    }
    assert.equal(calls, 2, "removed again after the writer's addition");
    assert.equal(fs.existsSync(upload), false);
  });

  it("writes into a mount inside a folder, whole or not at all", async function () {
    const folder = path.join(home, "mounting-folder");
    fs.mkdirSync(path.join(folder, "mnt"), { recursive: true });
    const mounted = spawnSync("mount", [
      "-t",
      "tmpfs",
      "-o",
      "size=4m",
      "none",
      path.join(folder, "mnt"),
    ]);
    if (mounted.status !== 0) this.skip(); // mounting needs root (CAP_SYS_ADMIN)
    try {
      const store = openStore(parseStoreUri(folder), { home }) as LocalStore;
      await store.put("mnt/a.txt", Buffer.from("across"));
      const id = await store.createMultipartUpload("mnt/big", { partSize: 2 });
      const parts = [
        await store.uploadPart("mnt/big", id, 1, Buffer.from("ab")),
        await store.uploadPart("mnt/big", id, 2, Buffer.from("c")),
      ];
      await store.completeMultipartUpload("mnt/big", id, parts);
      assert.deepEqual(fs.readdirSync(path.join(folder, "mnt")).sort(), ["a.txt", "big"]);
      assert.equal(fs.readFileSync(path.join(folder, "mnt", "big"), "utf8"), "abc");
      assert.deepEqual(fs.readdirSync(folder), ["mnt"], "no work file is left");
    } finally {
      spawnSync("umount", [path.join(folder, "mnt")]);
    }
  });

  it("lands every one of many concurrent puts into a plain folder, which keeps only them", async () => {
    // Each put tidies the work folder away when it is empty; the others must make it again, not fail.
    const folder = path.join(home, "busy-folder");
    fs.mkdirSync(folder);
    const store = openStore(parseStoreUri(folder), { home }) as LocalStore;
    const keys = Array.from({ length: 500 }, (_, i) => `k${i}`);
    // A few at a time, so that the work folder is often empty while another put is about to use it.
    const limit = pLimit(3);
    await Promise.all(keys.map((k) => limit(() => store.put(k, Buffer.from(k)))));
    assert.deepEqual(fs.readdirSync(folder).sort(), [...keys].sort());
    assert.equal((await store.get("k499")).toString(), "k499");
  });

  it("hands a reader that looks at the bytes each piece of at most 1 MiB as it is read", async () => {
    const store = await LocalStore.createBucket("pieces", path.join(home, "pieces"), "local:east");
    const data = crypto.randomBytes(2_500_000);
    await store.put("k", data);
    const into = Buffer.alloc(data.length);
    const seen: Buffer[] = [];
    const got = await store.get("k", { offset: 0, length: data.length }, into, (p) => {
      // Each piece is the returned buffer's own memory, already filled when it is handed over.
      assert.equal(p.buffer, into.buffer);
      seen.push(Buffer.from(p));
    });
    assert.ok(got.equals(data));
    assert.deepEqual(
      seen.map((p) => p.length),
      [1 << 20, 1 << 20, data.length - 2 * (1 << 20)],
    );
    assert.ok(Buffer.concat(seen).equals(data));
  });

  it("recomputes the checksum of a file changed behind its back", async () => {
    const store = await LocalStore.createBucket(
      "edit",
      localBucketRoot({ home }, "edit"),
      "local:east",
    );
    await store.put("f", Buffer.from("one"));
    const file = path.join(store.root, "f");
    fs.writeFileSync(file, "two!");
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    assert.equal((await store.head("f"))?.hashes, undefined, "head never reports a stale checksum");
    assert.equal((await store.hashes("f"))?.crc32, formatCrc(crc32(Buffer.from("two!"))));
    assert.equal(
      (await store.head("f"))?.hashes?.crc32,
      formatCrc(crc32(Buffer.from("two!"))),
      "now recorded",
    );
    assert.equal(await store.hashes("missing"), undefined);
  });

  it("lists in byte order walking only the folders a page needs, and iterates in one walk", async () => {
    const root = localBucketRoot({ home }, "walked");
    const store = await LocalStore.createBucket("walked", root, "local:east");
    // Written by hand, as a user's folder is: 20 folders of 30 files, and names that sort around "/".
    const keys: string[] = [];
    for (let d = 0; d < 20; d++) {
      fs.mkdirSync(path.join(root, `d${String(d).padStart(2, "0")}`));
      for (let f = 0; f < 30; f++) keys.push(`d${String(d).padStart(2, "0")}/f${f}`);
    }
    keys.push("d05.txt", "d05-x", "d050", "é");
    for (const k of keys) fs.writeFileSync(path.join(root, k), k);
    const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.ok(sorted.indexOf("d05-x") < sorted.indexOf("d05.txt"), "'-' and '.' sort before '/'");
    assert.ok(sorted.indexOf("d05.txt") < sorted.indexOf("d05/f0"));
    assert.ok(sorted.indexOf("d05/f9") < sorted.indexOf("d050"), "'/' sorts before '0'");

    // Every readdir the store makes, by folder.
    const read: string[] = [];
    const readdir = fs.promises.readdir;
    (fs.promises as { readdir: unknown }).readdir = (dir: string, ...rest: unknown[]) => {
      read.push(path.relative(root, dir));
      return (readdir as (...a: unknown[]) => unknown).call(fs.promises, dir, ...rest);
    };
    try {
      const paged: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        read.length = 0;
        const page = await store.list({ maxKeys: 25, token });
        paged.push(...page.objects.map((o) => o.key));
        token = page.nextToken;
        pages++;
        // The root and the folders the page's keys are in (and the one after the last, to see more).
        assert.ok(read.length <= 4, `page ${pages} read ${read.length} folders: ${read.join(" ")}`);
      } while (token);
      assert.equal(pages, Math.ceil(keys.length / 25));
      assert.deepEqual(paged, sorted);

      read.length = 0;
      const iterated: string[] = [];
      for await (const o of store.iterate()) iterated.push(o.key);
      assert.deepEqual(iterated, sorted);
      assert.equal(read.length, 21, "each folder read once");
      // A folder written by hand has no checksum records: none is read for its keys; a key put through
      // the store has one, and the listing reports its checksum.
      await store.put("d07/f3", Buffer.from("put"));
      // The module object itself (the namespace import's bindings are read-only views of it).
      const readFileSync = nodeFs.readFileSync;
      const records: string[] = [];
      (nodeFs as { readFileSync: unknown }).readFileSync = (file: string, ...rest: unknown[]) => {
        if (String(file).includes(`${path.sep}meta${path.sep}`)) records.push(String(file));
        return (readFileSync as (...a: unknown[]) => unknown).call(nodeFs, file, ...rest);
      };
      const hashed: string[] = [];
      try {
        for await (const o of store.iterate()) if (o.hashes?.crc32) hashed.push(o.key);
      } finally {
        (nodeFs as { readFileSync: unknown }).readFileSync = readFileSync;
      }
      assert.deepEqual(hashed, ["d07/f3"]);
      // The 30 keys of d07, and the 4 at the root (whose records folder holds d07's): none of the 570 others.
      assert.equal(records.length, 34, "records read only in the folders that have them");
      const under: string[] = [];
      for await (const o of store.iterate("d05")) under.push(o.key);
      assert.deepEqual(under, [
        "d05-x",
        "d05.txt",
        ...sorted.filter((k) => k.startsWith("d05/")),
        "d050",
      ]);
    } finally {
      (fs.promises as { readdir: unknown }).readdir = readdir;
    }
  });

  describe("URIs", () => {
    it("parses local buckets, file URIs and plain paths", () => {
      assert.deepEqual(parseStoreUri("local://my-bucket/a/b.txt"), {
        scheme: "local",
        bucket: "my-bucket",
        key: "a/b.txt",
      });
      assert.deepEqual(parseStoreUri("local://my-bucket"), {
        scheme: "local",
        bucket: "my-bucket",
        key: "",
      });
      assert.deepEqual(parseStoreUri("./data", "/work"), {
        scheme: "file",
        bucket: "/work/data",
        key: "",
      });
      assert.deepEqual(parseStoreUri("file:///tmp/x%20y"), {
        scheme: "file",
        bucket: "/tmp/x y",
        key: "",
      });
      assert.equal(bucketUri(parseStoreUri("local://bb1/k")), "local://bb1");
    });

    it("explains what is wrong with a malformed URI", () => {
      assert.throws(
        () => parseStoreUri("ftp://x/y"),
        /unknown scheme ftp:\/\/; use local:\/\/BUCKET\/KEY/,
      );
      assert.throws(() => parseStoreUri("local://UPPER/k"), /is not a bucket name/);
      assert.throws(() => parseStoreUri("local:///k"), /is not a bucket name/);
      assert.throws(() => parseStoreUri("file://relative"), /absolute path/);
      assert.throws(() => parseStoreUri(""), /empty path/);
    });

    it("opens a local bucket under the home and a folder as itself", () => {
      const local = openStore(parseStoreUri("local://bkt/x"), { home }) as LocalStore;
      assert.equal(local.root, path.join(home, "buckets", "bkt"));
      const folder = openStore(parseStoreUri("/tmp/some/folder"), { home }) as LocalStore;
      assert.equal(folder.root, "/tmp/some/folder");
    });
  });
});
