import type { Socket } from "node:net";
import { SkyplaneError } from "../../errors";

/** Bytes buffered before the socket is paused (TCP back-pressure then slows the sender). */
const HIGH_WATER = 8 * 1024 * 1024;

/** Reads exact byte counts from a socket, pausing it while the reader falls behind. */
export class SocketReader {
  private pieces: Buffer[] = [];
  private available = 0;
  private waiter?: () => void;
  private ended = false;
  private failure?: Error;

  constructor(private readonly socket: Socket) {
    socket.on("data", (b: Buffer) => {
      this.pieces.push(b);
      this.available += b.length;
      if (this.available > HIGH_WATER) socket.pause();
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("close", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("error", (err) => {
      this.failure = err;
      this.wake();
    });
  }

  /** True when the peer closed and every byte has been read. */
  get exhausted(): boolean {
    return this.ended && this.available === 0;
  }

  /** Exactly `n` bytes; rejects if the connection ends first. */
  async read(n: number): Promise<Buffer> {
    const out: Buffer[] = [];
    await this.stream(n, (p) => out.push(p));
    return out.length === 1 ? out[0] : Buffer.concat(out, n);
  }

  /** Hands the next `n` bytes to `onPiece` as they arrive; rejects if the connection ends first. */
  async stream(n: number, onPiece: (piece: Buffer) => void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.available === 0) {
        if (this.failure) throw this.failure;
        if (this.ended)
          throw new SkyplaneError(
            "CONNECTION_CLOSED",
            `connection closed with ${left} bytes still expected`,
          );
        await new Promise<void>((resolve) => (this.waiter = resolve));
        continue;
      }
      const head = this.pieces[0];
      const take = Math.min(left, head.length);
      if (take === head.length) this.pieces.shift();
      else this.pieces[0] = head.subarray(take);
      this.available -= take;
      left -= take;
      onPiece(take === head.length ? head : head.subarray(0, take));
      if (this.available < HIGH_WATER / 2 && this.socket.isPaused()) this.socket.resume();
    }
  }

  /** Waits until bytes are available or the connection ends; false at a clean end. */
  async more(): Promise<boolean> {
    while (this.available === 0) {
      if (this.failure) throw this.failure;
      if (this.ended) return false;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    return true;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
