import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
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

/** What a listing holds so far; its builder adds to it, its readers follow it. */
interface ListingState {
  /** The objects, while they fit in memory. */
  memory: ObjectPair[] | undefined;
  /** The spool file, once the listing outgrew memory. */
  file?: string;
  /** Bytes of the spool file written (whole lines): what readers may read. */
  flushed: number;
  objects: number;
  bytes: number;
  chunks: number;
  /** True once every object is in. */
  complete: boolean;
  /** Why the listing ended early, if it did. */
  error?: unknown;
  /** Readers waiting for more. */
  waiters: Array<() => void>;
}

/** Wakes every reader waiting for more of the listing. */
function notify(state: ListingState): void {
  const waiters = state.waiters.splice(0);
  for (const w of waiters) w();
}

/**
 * The objects of a transfer in key order, their totals, and (past the memory bound) their spool file.
 * A listing read while it is still being made (`ListingBuilder.listing()`) hands out what is there and
 * waits for the rest; its totals grow until it is `complete`.
 */
export class Listing implements AsyncDisposable {
  /** @internal Built by a `ListingBuilder`. */
  constructor(private readonly state: ListingState) {}

  /** A listing held in memory. */
  static of(pairs: readonly ObjectPair[], chunksOf: (size: number) => number = () => 1): Listing {
    return new Listing({
      memory: [...pairs],
      flushed: 0,
      objects: pairs.length,
      bytes: pairs.reduce((n, p) => n + p.size, 0),
      chunks: pairs.reduce((n, p) => n + chunksOf(p.size), 0),
      complete: true,
      waiters: [],
    });
  }

  /** Objects (so far, until complete). */
  get objects(): number {
    return this.state.objects;
  }

  /** Bytes of every object (so far, until complete). */
  get bytes(): number {
    return this.state.bytes;
  }

  /** Chunks the objects are cut into (so far, until complete). */
  get chunks(): number {
    return this.state.chunks;
  }

  /** The spool file, when the listing outgrew memory. */
  get spoolFile(): string | undefined {
    return this.state.file;
  }

  /** True once every object is in. */
  get complete(): boolean {
    return this.state.complete;
  }

  /**
   * Resolves once the listing holds an object or is complete; rejects with what ended it before its
   * first object (nothing to copy, no such bucket): what a caller checks before it provisions anything.
   */
  async ready(): Promise<void> {
    while (this.state.objects === 0 && !this.state.complete) {
      if (this.state.error !== undefined) throw this.state.error;
      await new Promise<void>((resolve) => this.state.waiters.push(resolve));
    }
  }

  /** Resolves once every object is in; rejects with what ended the listing early. */
  async whenComplete(): Promise<void> {
    while (!this.state.complete) {
      if (this.state.error !== undefined) throw this.state.error;
      await new Promise<void>((resolve) => this.state.waiters.push(resolve));
    }
  }

  /**
   * The objects, in batches of at most `size`, from the first; each call reads memory or the spool.
   * While the listing is being made, a batch is handed out as soon as the reader has caught up with
   * it (so that the first objects go out while the rest are listed); an error that ends the listing
   * is thrown once the objects before it are read.
   */
  async *batches(size: number): AsyncGenerator<ObjectPair[]> {
    const state = this.state;
    let at = 0; // objects read
    let batch: ObjectPair[] = [];
    let spool: SpoolReader | undefined;
    try {
      for (;;) {
        const before = at;
        // As it was before reading: if it was over then and nothing more came, there is nothing more.
        const { complete, error } = state;
        if (state.memory) {
          const take = state.memory.slice(at, at + size - batch.length);
          batch.push(...take);
          at += take.length;
        } else if (state.file) {
          spool ??= new SpoolReader(state.file);
          at += await spool.read(at, state.flushed, size - batch.length, batch);
        }
        if (batch.length >= size) {
          yield batch;
          batch = [];
          continue;
        }
        if (at > before) continue; // there may be more already
        // Caught up: hand out what there is, or end, or wait for more.
        if (complete || error !== undefined) {
          if (batch.length > 0) yield batch;
          if (complete) return;
          throw error;
        }
        if (batch.length > 0) {
          yield batch;
          batch = [];
          continue;
        }
        await new Promise<void>((resolve) => state.waiters.push(resolve));
      }
    } finally {
      await spool?.close();
    }
  }

  /** Every object in one array (a dry run's JSON; small listings). */
  async all(): Promise<ObjectPair[]> {
    const out: ObjectPair[] = [];
    for await (const b of this.batches(10_000)) out.push(...b);
    return out;
  }

  /** Removes the spool file, if any. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state.file) await fs.promises.rm(this.state.file, { force: true });
  }
}

/** Reads a spool file's lines by position, up to what its writer has flushed. */
class SpoolReader {
  private handle?: fs.promises.FileHandle;
  private offset = 0;
  private line = 0;
  private rest = "";

  constructor(private readonly file: string) {}

  /**
   * Appends to `out` up to `max` objects from object `from` on, reading no further than byte
   * `flushed`; returns how many. Lines before `from` (held in memory before the spill) are skipped.
   */
  async read(from: number, flushed: number, max: number, out: ObjectPair[]): Promise<number> {
    let n = 0;
    while (n < max) {
      const nl = this.rest.indexOf("\n");
      if (nl >= 0) {
        const text = this.rest.slice(0, nl);
        this.rest = this.rest.slice(nl + 1);
        if (this.line++ >= from + n && text !== "") {
          out.push(JSON.parse(text) as ObjectPair);
          n++;
        }
        continue;
      }
      if (this.offset >= flushed) break;
      this.handle ??= await fs.promises.open(this.file, "r");
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, flushed - this.offset));
      const { bytesRead } = await this.handle.read(buf, 0, buf.length, this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      this.rest += buf.toString("utf8", 0, bytesRead);
    }
    return n;
  }

  async close(): Promise<void> {
    await this.handle?.close();
  }
}

/** Gathers a listing object by object: in memory up to a bound, then in a spool file. */
export class ListingBuilder {
  private readonly state: ListingState = {
    memory: [],
    flushed: 0,
    objects: 0,
    bytes: 0,
    chunks: 0,
    complete: false,
    waiters: [],
  };
  private fd?: number;
  private pending: string[] = [];
  private pendingBytes = 0;

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
    const state = this.state;
    state.objects++;
    state.bytes += pair.size;
    state.chunks += this.opts.chunksOf(pair.size);
    if (state.memory) {
      state.memory.push(pair);
      if (state.memory.length > (this.opts.memoryObjects ?? LISTING_MEMORY_OBJECTS)) this.spill();
      notify(state);
      return;
    }
    this.write(pair);
  }

  /**
   * The listing as it is being made: readers get each object once it is in memory or flushed to the
   * spool, and wait for the rest until `finish()` or `fail()`.
   */
  listing(): Listing {
    return new Listing(this.state);
  }

  /** The listing, complete; the builder is spent. */
  finish(): Listing {
    if (this.fd !== undefined) {
      this.flush();
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    this.state.complete = true;
    notify(this.state);
    return new Listing(this.state);
  }

  /** Ends a listing that a reader follows with `error`: readers throw it once they have read what came before. */
  fail(error: unknown): void {
    if (this.fd !== undefined) {
      this.flush();
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    this.state.error = error;
    notify(this.state);
  }

  /** Drops what was gathered (a listing that failed part way). */
  discard(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    if (this.state.file) fs.rmSync(this.state.file, { force: true });
    this.state.memory = undefined;
  }

  private spill(): void {
    fs.mkdirSync(this.opts.spoolDir, { recursive: true, mode: 0o700 });
    removeOrphans(this.opts.spoolDir);
    const file = path.join(
      this.opts.spoolDir,
      `${process.pid}-${crypto.randomBytes(8).toString("hex")}.ndjson`,
    );
    this.fd = fs.openSync(file, "wx", 0o600);
    const held = this.state.memory ?? [];
    for (const p of held) this.write(p);
    this.flush();
    // From here on readers read the file (those past the objects held skip them there).
    this.state.file = file;
    this.state.memory = undefined;
  }

  private write(pair: ObjectPair): void {
    const line = JSON.stringify(pair) + "\n";
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= SPOOL_WRITE_BYTES) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join("");
    fs.writeSync(this.fd as number, text);
    this.pending = [];
    this.pendingBytes = 0;
    this.state.flushed += Buffer.byteLength(text);
    notify(this.state);
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
