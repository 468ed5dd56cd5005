import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import pLimit from "p-limit";
import { crc32, formatCrc } from "../checksum";
import { checksumMismatch, creationRegion, S3_PART_LIMITS } from "../common";
import { crcCombine, Hashes } from "../hashes";
import {
  byteLength,
  ListOptions,
  ListPage,
  ObjectInfo,
  ObjectStore,
  StoreError,
  StoreFeatures,
  UploadedPart,
  WriteData,
  WriteOptions,
} from "../types";
import { confine, linkTarget, outside, realAncestors } from "./paths";
import {
  newWorkFile,
  openWorkFile,
  ownerAlive,
  ownerId,
  removeOrphans,
  renameInto,
  SYNC_IO_BYTES,
  tidy,
  writeAll,
} from "./workfiles";

/*
 * A bucket as a folder: `local://bucket/key` is the file `<root>/key`. Skyplane's own records (the
 * bucket's region, checksums of objects, multipart uploads) live in a records folder: `<root>/.skyplane`
 * for a local bucket (never listed), or a folder under the skyplane home for a plain folder, which
 * thus gets nothing but the files copied into it. Writes go to a work file in the bucket's work folder
 * (`<root>/.skyplane/tmp/`, see workfiles.ts), renamed into place, so a reader never sees a partial
 * object; a multipart upload appears only when it is completed. A folder that is a symbolic link out
 * of the root is never written through; listings skip symbolic links unless told to follow them.
 * Objects are written 0600 (or the mode a write asks for) and folders 0700, whatever the umask: a
 * bucket's data is its owner's alone unless a caller says otherwise.
 */

const META = ".skyplane";
const BUCKET_FILE = "bucket.json";
/** Mode of an object (and of skyplane's records) when the write names none. */
const FILE_MODE = 0o600;
/** Bytes read at a time when a reader looks at each piece (`get`'s onRead), and when read back. */
const READ_PIECE = 1 << 20;
/** Mode of every folder the store creates. */
const DIR_MODE = 0o700;

/** Creates a folder and its missing parents, owner-only. */
function mkdirp(dir: string): Promise<string | undefined> {
  return fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
}

/** Writes a small file of skyplane's own, owner-only (synchronously: see workfiles.ts). */
function writeRecord(file: string, text: string): void {
  fs.writeFileSync(file, text, { mode: FILE_MODE });
}

/**
 * Work files beside their target, never listed: as earlier versions named them, and the short copy
 * that a rename across a mount goes through (see `renameInto`).
 */
const NEARBY_WORK_FILE = /^\.(.*\.skyplane-(upload-)?[0-9a-f]{24}|sky-[0-9a-f]{8}\.tmp)$/;

/** A multipart upload's record. */
interface Upload {
  readonly key: string;
  readonly partSize: number;
  /** The work file its parts are written into, relative to the root. */
  readonly file: string;
  /** The process that started it (see workfiles.ts). */
  readonly owner: string;
  /** Permission bits of the object once completed (default 0600). */
  readonly mode?: number;
}

/** A folder-backed bucket. */
export class LocalStore implements ObjectStore {
  /** URI scheme. */
  readonly scheme = "local";
  /** What this store can do. */
  readonly features: StoreFeatures = {
    multipart: true,
    serverSideCopy: false,
    ...S3_PART_LIMITS,
    maxObjectBytes: Number.MAX_SAFE_INTEGER,
    // The CRC-32 of the bytes read back from disk after writing them, before they are published.
    hashes: ["crc32"],
    multipartHash: "combined",
  };

  /** Where skyplane's records of this bucket live. */
  readonly records: string;

  constructor(
    /** The bucket name (the folder's name for a plain folder). */
    readonly bucket: string,
    /** The folder that holds the bucket's objects. */
    readonly root: string,
    /** Records folder; default `<root>/.skyplane`. */
    records?: string,
    /** Listing options: `followSymlinks` lists what symbolic links point to (default: skip them). */
    private readonly opts: { followSymlinks?: boolean } = {},
  ) {
    this.records = records ?? path.join(root, META);
  }

  /** A store of the bucket folder `root`, made in `region` (e.g. `local:east`): see `createBucket`. */
  static async createBucket(bucket: string, root: string, region: string): Promise<LocalStore> {
    const store = new LocalStore(bucket, root);
    await store.createBucket(region);
    return store;
  }

  /** Makes the bucket folder in `region` (e.g. `local:east`); a bucket already there keeps its region. */
  async createBucket(region: string): Promise<void> {
    creationRegion(this, region);
    await mkdirp(this.records);
    const existing = await this.region();
    if (existing !== undefined && existing !== region) {
      throw new StoreError(
        "CONFLICT",
        `bucket ${this.bucket} already exists in ${existing}, not ${region}`,
      );
    }
    writeRecord(
      path.join(this.records, BUCKET_FILE),
      JSON.stringify({ region, created: new Date().toISOString() }) + "\n",
    );
  }

  async region(): Promise<string | undefined> {
    try {
      return JSON.parse(await fsp.readFile(path.join(this.records, BUCKET_FILE), "utf8")).region;
    } catch {
      return undefined;
    }
  }

  async exists(): Promise<boolean> {
    // Asked before every write: the synchronous stat, as the writes' own calls (workfiles.ts).
    return fs.statSync(this.root, { throwIfNoEntry: false })?.isDirectory() ?? false;
  }

  async list(opts: ListOptions = {}): Promise<ListPage> {
    await this.mustExist();
    const prefix = opts.prefix ?? "";
    const maxKeys = Math.max(1, opts.maxKeys ?? 1000);
    const objectKeys: string[] = [];
    const prefixes: string[] = [];
    let last: string | undefined;
    let nextToken: string | undefined;
    // In key order, from past the token: a page costs the folders it touches, not the whole bucket.
    for await (const { key, skipped } of this.walk(prefix, opts.token)) {
      if (skipped) continue;
      let entry: string = key;
      if (opts.delimiter) {
        const at = key.indexOf(opts.delimiter, prefix.length);
        if (at >= 0) entry = key.slice(0, at + opts.delimiter.length);
      }
      if (entry !== key && prefixes[prefixes.length - 1] === entry) continue;
      if (objectKeys.length + prefixes.length === maxKeys) {
        nextToken = last;
        break;
      }
      if (entry !== key) {
        prefixes.push(entry);
        // Skip the rest of this common prefix on the next page: no key under it sorts after this one.
        last = entry + "\u{10FFFF}";
      } else {
        objectKeys.push(key);
        last = key;
      }
    }
    const limit = pLimit(32);
    const infos = await Promise.all(objectKeys.map((k) => limit(() => this.info(k, false))));
    const objects = infos.filter((i): i is ObjectInfo => i !== undefined);
    return nextToken === undefined ? { objects, prefixes } : { objects, prefixes, nextToken };
  }

  /**
   * Every object under `prefix`, in key order, in one walk of the folders (`listAll` uses it): a
   * million keys cost the folders on the way down and a batch of infos, never an array of them all.
   */
  async *iterate(prefix = ""): AsyncGenerator<ObjectInfo> {
    await this.mustExist();
    const limit = pLimit(32);
    // A folder written by hand has no records: its keys' record reads (each a failed open) are skipped.
    const recorded = new Map<string, Promise<boolean>>();
    const hasRecords = (key: string) => {
      const dir = path.dirname(this.metaPath(key));
      let known = recorded.get(dir);
      if (!known) {
        recorded.clear(); // keys come folder by folder: one folder's answer at a time
        known = fsp.stat(dir).then(
          (s) => s.isDirectory(),
          () => false,
        );
        recorded.set(dir, known);
      }
      return known;
    };
    const infos = async (keys: string[]) =>
      (
        await Promise.all(
          keys.map((k) => limit(async () => this.info(k, false, await hasRecords(k)))),
        )
      ).filter((i): i is ObjectInfo => i !== undefined);
    let batch: string[] = [];
    for await (const { key, skipped } of this.walk(prefix)) {
      if (skipped) continue;
      batch.push(key);
      if (batch.length >= 256) {
        yield* await infos(batch);
        batch = [];
      }
    }
    if (batch.length > 0) yield* await infos(batch);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    await this.mustExist();
    return this.info(key, false);
  }

  /**
   * The hashes of `key`, computing the CRC-32 (and recording it) when no current record exists: an
   * object written into the folder by hand has none. Undefined when there is no such object.
   */
  async hashes(key: string): Promise<Hashes | undefined> {
    await this.mustExist();
    return (await this.info(key, true))?.hashes;
  }

  async get(
    key: string,
    range?: { offset: number; length: number },
    into?: Buffer,
    onRead?: (piece: Buffer) => void,
  ): Promise<Buffer> {
    const file = this.objectPath(key);
    if (range && range.length <= SYNC_IO_BYTES)
      return this.getSmall(file, key, range, into, onRead);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, "r");
    } catch (err) {
      throw await this.missing(err, key);
    }
    try {
      const size = (await fh.stat()).size;
      const offset = range?.offset ?? 0;
      const length = range ? Math.min(range.length, Math.max(0, size - offset)) : size;
      const buf =
        into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        // In pieces when someone looks at the bytes: each is handed over while still in the cache.
        const want = onRead ? Math.min(READ_PIECE, length - done) : length - done;
        const { bytesRead } = await fh.read(buf, done, want, offset + done);
        if (bytesRead === 0) break;
        onRead?.(buf.subarray(done, done + bytesRead));
        done += bytesRead;
      }
      return done === length ? buf : buf.subarray(0, done);
    } finally {
      await fh.close();
    }
  }

  /**
   * `get` of a small range with the synchronous calls: open, stat, read and close through the
   * threadpool are four round trips that cost far more CPU than the read (a folder of small files is
   * read at a third of the rate that way), while the calls themselves take microseconds.
   */
  private async getSmall(
    file: string,
    key: string,
    range: { offset: number; length: number },
    into?: Buffer,
    onRead?: (piece: Buffer) => void,
  ): Promise<Buffer> {
    let fd: number;
    try {
      fd = fs.openSync(file, "r");
    } catch (err) {
      throw await this.missing(err, key);
    }
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(range.length, Math.max(0, size - range.offset));
      const buf =
        into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const bytesRead = fs.readSync(fd, buf, done, length - done, range.offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      const out = done === length ? buf : buf.subarray(0, done);
      if (out.length > 0) onRead?.(out);
      return out;
    } finally {
      fs.closeSync(fd);
    }
  }

  async put(key: string, data: WriteData, opts: WriteOptions = {}): Promise<ObjectInfo> {
    await this.mustExist();
    const file = this.objectPath(key);
    confine(this.root, key);
    const tmp = newWorkFile(this.root, "put");
    try {
      // Written, read back and given its mode through one descriptor, whose stat is then the object's.
      const fd = openWorkFile(tmp, "w+");
      let stored: number;
      let stat: fs.Stats;
      try {
        await writeAll(fd, data, 0);
        // What is on disk, read back before it is published: a write that stored other bytes is refused.
        stored = await crcOf(fd, 0, byteLength(data));
        if (opts.crc32 !== undefined && stored !== opts.crc32 >>> 0) {
          throw checksumMismatch(
            key,
            `wrote bytes with CRC-32 ${formatCrc(stored)}, sent ${formatCrc(opts.crc32)}`,
          );
        }
        fs.fchmodSync(fd, (opts.mode ?? FILE_MODE) & 0o777);
        stat = fs.fstatSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      return await this.publish(key, file, tmp, formatCrc(stored), opts.mode, stat);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  }

  /**
   * Starts a multipart upload. `partSize` (every part but the last has it) lets parts be written in
   * place into one file, so completing an upload is a rename and not a copy; this store needs it.
   */
  async createMultipartUpload(
    key: string,
    opts: { partSize?: number; mode?: number } = {},
  ): Promise<string> {
    await this.mustExist();
    this.objectPath(key); // validates the key now rather than at completion
    confine(this.root, key);
    if (!opts.partSize || opts.partSize <= 0) {
      throw new StoreError(
        "INVALID_ARGUMENT",
        "the local store needs the part size of a multipart upload",
      );
    }
    const id = crypto.randomBytes(12).toString("hex");
    // Made under a name that says whose it is, then renamed: an upload's record is whole or absent.
    const staging = path.join(this.records, "uploads", `.${id}.${ownerId()}`);
    await mkdirp(path.join(staging, "parts"));
    const file = newWorkFile(this.root, "upload");
    fs.closeSync(openWorkFile(file, "w"));
    const upload: Upload = {
      key,
      partSize: opts.partSize,
      file: path.relative(this.root, file),
      owner: ownerId(),
      mode: opts.mode,
    };
    writeRecord(path.join(staging, "upload.json"), JSON.stringify(upload));
    await fsp.rename(staging, this.uploadDir(id));
    return id;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    data: WriteData,
    opts: WriteOptions = {},
  ): Promise<UploadedPart> {
    const upload = await this.upload(key, uploadId);
    if (!Number.isInteger(partNumber) || partNumber < 1) {
      throw new StoreError("INVALID_ARGUMENT", `part numbers start at 1, not ${partNumber}`);
    }
    const size = byteLength(data);
    if (size > upload.partSize) {
      throw new StoreError(
        "INVALID_ARGUMENT",
        `part ${partNumber} is larger than ${upload.partSize} bytes`,
      );
    }
    const dir = this.uploadDir(uploadId);
    const file = this.uploadData(upload);
    const at = (partNumber - 1) * upload.partSize;
    const fd = openWorkFile(file, "r+");
    let stored: number;
    try {
      await writeAll(fd, data, at);
      stored = await crcOf(fd, at, size);
    } finally {
      fs.closeSync(fd);
    }
    if (opts.crc32 !== undefined && stored !== opts.crc32 >>> 0) {
      throw checksumMismatch(
        key,
        `part ${partNumber}: wrote bytes with CRC-32 ${formatCrc(stored)}, sent ${formatCrc(opts.crc32)}`,
      );
    }
    const checksum = formatCrc(stored);
    // The marker is written last: a part counts only once its bytes are in place.
    writeRecord(path.join(dir, "parts", String(partNumber)), JSON.stringify({ size, checksum }));
    return { partNumber, hashes: { crc32: checksum } };
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<ObjectInfo> {
    const upload = await this.upload(key, uploadId);
    confine(this.root, key); // a folder may have become a link since the upload started
    const dir = this.uploadDir(uploadId);
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    let size = 0;
    let whole = 0;
    for (const [i, part] of sorted.entries()) {
      if (part.partNumber !== i + 1) {
        throw new StoreError(
          "INVALID_PART",
          `parts must be numbered 1..${sorted.length} without gaps`,
        );
      }
      let marker: { size: number; checksum: string };
      try {
        marker = JSON.parse(
          await fsp.readFile(path.join(dir, "parts", String(part.partNumber)), "utf8"),
        );
      } catch {
        throw new StoreError(
          "INVALID_PART",
          `part ${part.partNumber} of ${key} was never uploaded`,
        );
      }
      if (part.hashes?.crc32 !== undefined && marker.checksum !== part.hashes.crc32) {
        throw new StoreError(
          "INVALID_PART",
          `part ${part.partNumber} of ${key} has another checksum`,
        );
      }
      if (i < sorted.length - 1 && marker.size !== upload.partSize) {
        throw new StoreError(
          "INVALID_PART",
          `part ${part.partNumber} of ${key} is not the part size`,
        );
      }
      size += marker.size;
      whole =
        i === 0
          ? parseInt(marker.checksum, 16)
          : crcCombine("crc32", whole, parseInt(marker.checksum, 16), marker.size);
    }
    const data = this.uploadData(upload);
    await fsp.truncate(data, size);
    // The CRC-32 of the whole file, from the parts' CRC-32s as read back from disk.
    const info = await this.publish(key, this.objectPath(key), data, formatCrc(whole), upload.mode);
    await removeTree(dir);
    return info;
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    const upload = await this.upload(key, uploadId);
    await fsp.rm(this.uploadData(upload), { force: true });
    await removeTree(this.uploadDir(uploadId));
    if (this.plainFolder) tidy(this.root, true); // the user's folder keeps only its files
  }

  async delete(key: string): Promise<void> {
    await this.mustExist();
    const file = this.objectPath(key);
    confine(this.root, key);
    await fsp.rm(file, { force: true });
    await fsp.rm(this.metaPath(key), { force: true });
  }

  /** Throws a StoreError (INVALID_KEY) when this store cannot hold `key`. */
  checkKey(key: string): void {
    this.objectPath(key);
  }

  /**
   * Removes the work files of writers that are gone (killed mid-write) and their multipart uploads;
   * those of live writers stay. Returns how many work files it removed.
   */
  async cleanupTemporaries(): Promise<number> {
    if (!(await this.exists())) return 0;
    const uploads = path.join(this.records, "uploads");
    for (const id of await fsp.readdir(uploads).catch(() => [] as string[])) {
      let owner: string | undefined = /^\.[0-9a-f]{24}\.(\d+-\d+)$/.exec(id)?.[1]; // being made
      try {
        owner ??= JSON.parse(
          await fsp.readFile(path.join(uploads, id, "upload.json"), "utf8"),
        ).owner;
      } catch {
        continue; // not ours
      }
      // A gateway of a warm route may still be writing parts of a killed client's upload: what it
      // adds meanwhile is removed on the next attempt, and what is left, by the next cleanup.
      if (owner !== undefined && !ownerAlive(owner))
        await removeTree(path.join(uploads, id)).catch(() => undefined);
    }
    return removeOrphans(this.root, this.plainFolder);
  }

  /** Keys of the symbolic links under `prefix` that listings leave out. */
  async skippedLinks(prefix = ""): Promise<string[]> {
    await this.mustExist();
    const skipped: string[] = [];
    for await (const e of this.walk(prefix)) if (e.skipped) skipped.push(e.key);
    return skipped;
  }

  /** The file that holds `key`; rejects keys that would leave the bucket or clash with its records. */
  objectPath(key: string): string {
    const parts = key.split("/");
    if (
      key.length === 0 ||
      key.includes("\0") ||
      parts.some((p) => p === "." || p === ".." || p === "") ||
      parts[0] === META
    ) {
      throw new StoreError(
        "INVALID_KEY",
        `the local store cannot hold the key ${JSON.stringify(key)}`,
      );
    }
    return path.join(this.root, ...parts);
  }

  private metaPath(key: string): string {
    const parts = key.split("/");
    const name = parts.pop() as string;
    // A name too long for ".json" after it (NAME_MAX is 255 bytes) gets its hash; no ".json" name ends so.
    const file =
      Buffer.byteLength(name) + 5 > 255
        ? crypto.createHash("sha256").update(name).digest("hex") + ".long"
        : name + ".json";
    return path.join(this.records, "meta", ...parts, file);
  }

  private uploadDir(id: string): string {
    if (!/^[0-9a-f]{24}$/.test(id))
      throw new StoreError("NO_SUCH_UPLOAD", `no multipart upload ${id}`);
    return path.join(this.records, "uploads", id);
  }

  private async upload(key: string, id: string): Promise<Upload> {
    let upload: Upload;
    try {
      upload = JSON.parse(await fsp.readFile(path.join(this.uploadDir(id), "upload.json"), "utf8"));
    } catch {
      throw new StoreError("NO_SUCH_UPLOAD", `no multipart upload ${id} in bucket ${this.bucket}`);
    }
    if (upload.key !== key)
      throw new StoreError("NO_SUCH_UPLOAD", `upload ${id} is not for ${key}`);
    return upload;
  }

  /** True for a plain folder, whose records live elsewhere: its `.skyplane` folder is only for work. */
  private get plainFolder(): boolean {
    return this.records !== path.join(this.root, META);
  }

  /** The file a multipart upload's parts are written into, in place. */
  private uploadData(upload: Upload): string {
    const file = path.resolve(this.root, upload.file);
    if (outside(path.join(this.root, META), file))
      throw new StoreError("NO_SUCH_UPLOAD", `upload of ${upload.key} has no work file`);
    return file;
  }

  /**
   * Renames `tmp` to `file` (atomic) and records the checksum of what is now there. The object has
   * `mode` (default 0600) from the moment it appears. `ready` is the work file's stat once it has its
   * mode (a rename keeps both that and its time); without it, the mode is set here.
   */
  private async publish(
    key: string,
    file: string,
    tmp: string,
    checksum: string,
    mode: number = FILE_MODE,
    ready?: fs.Stats,
  ): Promise<ObjectInfo> {
    if (!ready) fs.chmodSync(tmp, mode & 0o777);
    const copied = await renameInto(tmp, file);
    if (this.plainFolder) tidy(this.root, true); // the user's folder keeps only its files
    const stat = ready && !copied ? ready : fs.statSync(file);
    this.writeMeta(key, stat, checksum);
    return {
      key,
      size: stat.size,
      lastModified: stat.mtime,
      hashes: { crc32: checksum },
      mode: stat.mode & 0o777,
    };
  }

  private writeMeta(key: string, stat: fs.Stats, checksum: string): void {
    const meta = this.metaPath(key);
    const text = JSON.stringify({ size: stat.size, mtimeMs: stat.mtimeMs, checksum });
    try {
      writeRecord(meta, text);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      fs.mkdirSync(path.dirname(meta), { recursive: true, mode: DIR_MODE }); // its folder's first record
      writeRecord(meta, text);
    }
  }

  /** Info of `key`; with `withChecksum`, computes and records the checksum if no record is current. */
  private async info(
    key: string,
    withChecksum: boolean,
    records = true,
  ): Promise<ObjectInfo | undefined> {
    // The synchronous calls: a listing makes one or two per key, each microseconds, where a round
    // trip through the threadpool costs tens of microseconds of CPU (a third of a listing's time).
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.objectPath(key));
    } catch {
      return undefined;
    }
    if (!stat.isFile()) return undefined;
    let checksum: string | undefined;
    // `records` false: the caller knows the key's folder has none (no failed read per key).
    if (records) {
      try {
        const meta = JSON.parse(fs.readFileSync(this.metaPath(key), "utf8"));
        // A record is current only if the file has not been touched since (written by hand, say).
        if (meta.size === stat.size && meta.mtimeMs === stat.mtimeMs) checksum = meta.checksum;
      } catch {
        // no record
      }
    }
    if (checksum === undefined && withChecksum) {
      let crc = 0;
      for await (const piece of fs.createReadStream(this.objectPath(key), {
        highWaterMark: 1 << 20,
      })) {
        crc = crc32(piece as Buffer, crc);
      }
      checksum = formatCrc(crc);
      this.writeMeta(key, stat, checksum);
    }
    return {
      key,
      size: stat.size,
      lastModified: stat.mtime,
      ...(checksum !== undefined ? { hashes: { crc32: checksum } } : {}),
      mode: stat.mode & 0o777,
    };
  }

  /**
   * The keys under `prefix` in key order (UTF-8 byte order, as S3 sorts), and past `after` when given,
   * walking only the folders that can hold such keys, one folder's entries in memory at a time. It
   * skips skyplane's records and work files; symbolic links are followed with `followSymlinks` (but
   * never round a cycle, nor out of the bucket's folder) and otherwise reported with `skipped`.
   */
  private async *walk(
    prefix: string,
    after?: string,
  ): AsyncGenerator<{ key: string; skipped: boolean }> {
    const { root } = this;
    const follow = this.opts.followSymlinks ?? false;
    let realRoot: string | undefined;
    // Whether keys below folder key `dir` (ending in "/") can be under the prefix and past `after`.
    const wanted = (dir: string) =>
      (dir.startsWith(prefix) || prefix.startsWith(dir)) &&
      (after === undefined || after.startsWith(dir) || byteOrder(dir, after) > 0);
    type Item = { key: string; kind: "file" | "dir" | "skipped"; real?: string };
    // `real` is the folder's real path and `ancestors` those of the folders above it (when following).
    async function* visit(
      rel: string,
      real: string,
      ancestors: string[],
    ): AsyncGenerator<{ key: string; skipped: boolean }> {
      const dir = path.join(root, rel);
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      const items: Item[] = [];
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if ((!rel && e.name === META) || NEARBY_WORK_FILE.test(e.name)) continue;
        if (e.isSymbolicLink()) {
          // Followed only inside the folder: its gateways never read outside it (see executor.ts).
          let target = follow ? await linkTarget(path.join(dir, e.name)) : undefined;
          realRoot ??= await fsp.realpath(root).catch(() => root);
          if (target && outside(realRoot, target.real)) target = undefined;
          if (target?.isFile) items.push({ key, kind: "file" });
          else if (target?.dir && !ancestors.includes(target.dir))
            items.push({ key, kind: "dir", real: target.dir });
          else items.push({ key, kind: "skipped" });
        } else if (e.isDirectory()) items.push({ key, kind: "dir", real: path.join(real, e.name) });
        else if (e.isFile()) items.push({ key, kind: "file" });
      }
      // A folder sorts as its keys do: by its name and a "/".
      const order = (i: Item) => (i.kind === "dir" ? i.key + "/" : i.key);
      items.sort((a, b) => byteOrder(order(a), order(b)));
      for (const i of items) {
        if (i.kind === "dir") {
          if (!wanted(i.key + "/")) continue;
          const sub = i.real as string;
          yield* visit(i.key, sub, follow ? [...ancestors, sub] : []);
        } else if (i.key.startsWith(prefix) && (after === undefined || byteOrder(i.key, after) > 0))
          yield { key: i.key, skipped: i.kind === "skipped" };
      }
    }
    // Walk only the folder the prefix names: "a/b/c" can only match below "a/b".
    const base = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
    const start = path.join(root, base);
    const realStart = follow ? await fsp.realpath(start).catch(() => start) : start;
    yield* visit(base, realStart, follow ? realAncestors(realStart) : []);
  }

  private async mustExist(): Promise<void> {
    if (!(await this.exists())) {
      throw new StoreError(
        "NO_SUCH_BUCKET",
        `bucket local://${this.bucket} does not exist (${this.root}): create it with ` +
          `'skyplane mb local://${this.bucket} --region local:<region>'`,
      );
    }
  }

  private async missing(err: unknown, key: string): Promise<Error> {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") return err as Error;
    await this.mustExist();
    return new StoreError("NO_SUCH_KEY", `no object ${key} in local://${this.bucket}`);
  }
}

/** Removes a folder and all it holds, again when a writer added a file while it ran (ENOTEMPTY). */
async function removeTree(dir: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fsp.rm(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOTEMPTY" || attempt >= 5) throw err;
    }
  }
}

/** pread(2) through the threadpool; resolves to the bytes read. */
function readAt(fd: number, buf: Buffer, length: number, at: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buf, 0, length, at, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

/**
 * CRC-32 of `length` bytes read back through `fd` from `offset`, a MiB at a time (small ones with the
 * synchronous call, as they were written).
 */
async function crcOf(fd: number, offset: number, length: number): Promise<number> {
  if (length === 0) return 0;
  const buf = Buffer.allocUnsafe(Math.min(length, READ_PIECE));
  const sync = length <= SYNC_IO_BYTES;
  let crc = 0;
  for (let done = 0; done < length;) {
    const want = Math.min(buf.length, length - done);
    const bytesRead = sync
      ? fs.readSync(fd, buf, 0, want, offset + done)
      : await readAt(fd, buf, want, offset + done);
    if (bytesRead === 0) break; // shorter than written: the CRC-32 says so
    crc = crc32(buf.subarray(0, bytesRead), crc);
    done += bytesRead;
  }
  return crc >>> 0;
}

/** Orders keys as S3 does: by their UTF-8 bytes. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
