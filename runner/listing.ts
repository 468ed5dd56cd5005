import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import type { ObjectPair } from "./chunker";

/*
 * The objects of one transfer, listed once from the source and read as often as the transfer needs
 * (the plan's totals, then the transfer in windows) without asking the store again. A listing stays in
 * memory up to a bound; past it, every object goes to a spool file of one JSON line each (owner-only,
 * under `<home>/work/listings`), so that ten million keys cost disk, not memory.
 */

/** Objects a listing keeps in memory before it spools them to a file. */
export const LISTING_MEMORY_OBJECTS = 100_000;

/** Bytes of spooled lines gathered before one write. */
const SPOOL_WRITE_BYTES = 1 << 20;

/** Where listings spool: `<home>/work/listings`. */
export function listingDir(home: string): string {
  return path.join(home, "work", "listings");
}

/** The objects of a transfer in key order, their totals, and (past the memory bound) their spool file. */
export class Listing implements AsyncDisposable {
  /** @internal Built by `ListingBuilder.finish()`. */
  constructor(
    private readonly memory: readonly ObjectPair[] | undefined,
    /** The spool file, when the listing outgrew memory. */
    readonly spoolFile: string | undefined,
    /** Objects. */
    readonly objects: number,
    /** Bytes of every object. */
    readonly bytes: number,
    /** Chunks the objects are cut into. */
    readonly chunks: number,
  ) {}

  /** A listing held in memory. */
  static of(pairs: readonly ObjectPair[], chunksOf: (size: number) => number = () => 1): Listing {
    return new Listing(
      pairs,
      undefined,
      pairs.length,
      pairs.reduce((n, p) => n + p.size, 0),
      pairs.reduce((n, p) => n + chunksOf(p.size), 0),
    );
  }

  /** The objects, in batches of at most `size`, from the first; each call reads memory or the spool. */
  async *batches(size: number): AsyncGenerator<ObjectPair[]> {
    if (this.memory) {
      for (let at = 0; at < this.memory.length; at += size) yield this.memory.slice(at, at + size);
      return;
    }
    const input = fs.createReadStream(this.spoolFile as string, { encoding: "utf8" });
    const lines = readline.createInterface({ input, crlfDelay: Infinity });
    let batch: ObjectPair[] = [];
    try {
      for await (const line of lines) {
        if (line === "") continue;
        batch.push(JSON.parse(line) as ObjectPair);
        if (batch.length >= size) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    } finally {
      lines.close();
      input.destroy();
    }
  }

  /** Every object in one array (a dry run's JSON; small listings). */
  async all(): Promise<ObjectPair[]> {
    if (this.memory) return [...this.memory];
    const out: ObjectPair[] = [];
    for await (const b of this.batches(10_000)) out.push(...b);
    return out;
  }

  /** Removes the spool file, if any. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.spoolFile) await fs.promises.rm(this.spoolFile, { force: true });
  }
}

/** Gathers a listing object by object: in memory up to a bound, then in a spool file. */
export class ListingBuilder {
  private memory: ObjectPair[] | undefined = [];
  private file?: string;
  private fd?: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private objects = 0;
  private bytes = 0;
  private chunks = 0;

  constructor(
    private readonly opts: {
      /** Where a spool file goes (created owner-only when first needed). */
      readonly spoolDir: string;
      /** Objects kept in memory; default LISTING_MEMORY_OBJECTS. */
      readonly memoryObjects?: number;
      /** Chunks an object of `size` bytes is cut into. */
      readonly chunksOf: (size: number) => number;
    },
  ) {}

  /** Adds the next object (in key order). */
  add(pair: ObjectPair): void {
    this.objects++;
    this.bytes += pair.size;
    this.chunks += this.opts.chunksOf(pair.size);
    if (this.memory) {
      this.memory.push(pair);
      if (this.memory.length > (this.opts.memoryObjects ?? LISTING_MEMORY_OBJECTS)) this.spill();
      return;
    }
    this.write(pair);
  }

  /** The listing; the builder is spent. */
  finish(): Listing {
    if (this.fd !== undefined) {
      this.flush();
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    return new Listing(this.memory, this.file, this.objects, this.bytes, this.chunks);
  }

  /** Drops what was gathered (a listing that failed part way). */
  discard(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    if (this.file) fs.rmSync(this.file, { force: true });
    this.memory = undefined;
  }

  private spill(): void {
    fs.mkdirSync(this.opts.spoolDir, { recursive: true, mode: 0o700 });
    removeOrphans(this.opts.spoolDir);
    this.file = path.join(
      this.opts.spoolDir,
      `${process.pid}-${crypto.randomBytes(8).toString("hex")}.ndjson`,
    );
    this.fd = fs.openSync(this.file, "wx", 0o600);
    const held = this.memory ?? [];
    this.memory = undefined;
    for (const p of held) this.write(p);
  }

  private write(pair: ObjectPair): void {
    const line = JSON.stringify(pair) + "\n";
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= SPOOL_WRITE_BYTES) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    fs.writeSync(this.fd as number, this.pending.join(""));
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/** Removes spool files whose process is gone (it was killed before it could remove them). */
function removeOrphans(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH")
        fs.rmSync(path.join(dir, name), { force: true });
    }
  }
}
