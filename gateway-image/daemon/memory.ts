/*
 * Memory discipline of a gateway: a byte budget bounds what is held at once (chunks read but not yet
 * acked, chunks received but not yet handed on), and a buffer pool reuses the large read buffers, since
 * touching fresh memory for every 64 MiB part costs as much as copying it and leaves RSS to the mercy
 * of the garbage collector.
 */

/** A counting semaphore over bytes. One request larger than the whole budget is let through alone. */
export class ByteBudget {
  private used = 0;
  private readonly waiters: Array<{ bytes: number; grant: () => void }> = [];

  constructor(
    /** Bytes that may be held at once. */
    readonly capacity: number,
  ) {}

  /** Bytes held now. */
  get inUse(): number {
    return this.used;
  }

  /** Waits until `bytes` fit, then holds them; call `release(bytes)` when done. */
  async acquire(bytes: number): Promise<void> {
    if (this.waiters.length === 0 && this.fits(bytes)) {
      this.used += bytes;
      return;
    }
    await new Promise<void>((grant) => this.waiters.push({ bytes, grant }));
  }

  /** Gives back bytes taken with `acquire`. */
  release(bytes: number): void {
    this.used -= bytes;
    // First come, first served: a large request is not starved by a stream of small ones.
    while (this.waiters.length > 0 && this.fits(this.waiters[0].bytes)) {
      const w = this.waiters.shift() as { bytes: number; grant: () => void };
      this.used += w.bytes;
      w.grant();
    }
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.capacity;
  }
}

/** A buffer lent by a pool; give it back with `release()` once nothing refers to it any more. */
export interface Lease {
  /** Exactly the requested length. */
  readonly data: Buffer;
  /** Returns the buffer to the pool. */
  release(): void;
}

/** Reuses large buffers by size class (powers of two from 1 MiB), keeping at most `maxIdleBytes` idle. */
export class BufferPool {
  private readonly idle = new Map<number, Buffer[]>();
  private idleBytes = 0;

  constructor(private readonly maxIdleBytes: number) {}

  /** A buffer of `length` bytes, reused if one of its class is idle. */
  acquire(length: number): Lease {
    const size = Math.max(1 << 20, 2 ** Math.ceil(Math.log2(Math.max(1, length))));
    const list = this.idle.get(size);
    let buf = list?.pop();
    if (buf) this.idleBytes -= size;
    else buf = Buffer.allocUnsafeSlow(size);
    const full = buf;
    let released = false;
    return {
      data: full.subarray(0, length),
      release: () => {
        if (released) return;
        released = true;
        if (this.idleBytes + size > this.maxIdleBytes) return; // let the GC have it
        this.idleBytes += size;
        const free = this.idle.get(size) ?? [];
        free.push(full);
        this.idle.set(size, free);
      },
    };
  }
}
