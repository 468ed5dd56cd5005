import { SkyplaneError } from "../errors";
/** What happens during a transfer, in order; the CLI renders these, the library never prints. */
export type TransferEvent =
  | {
      readonly type: "planned";
      readonly objects: number;
      readonly chunks: number;
      readonly bytes: number;
    }
  | { readonly type: "dispatched"; readonly chunks: number; readonly bytes: number }
  | { readonly type: "chunk_done"; readonly chunkId: string; readonly bytes: number }
  /**
   * Bytes written at the destination so far, as its gateways count them (each chunk or part as it is
   * written, before its ack reaches the source); never more than the transfer's bytes.
   */
  | { readonly type: "landed"; readonly bytes: number }
  | { readonly type: "chunk_failed"; readonly chunkId: string; readonly error: string }
  | { readonly type: "object_done"; readonly key: string; readonly bytes: number }
  | { readonly type: "verified"; readonly objects: number }
  | {
      readonly type: "done";
      readonly objects: number;
      readonly bytes: number;
      readonly seconds: number;
    }
  | { readonly type: "failed"; readonly error: Error };

/** A listener of transfer events. */
export type TransferListener = (event: TransferEvent) => void;

/** Live counters of one transfer, updated from its events. */
export class TransferProgress {
  /** Bytes the transfer will move. */
  bytesTotal = 0;
  /** Bytes handed to source gateways. */
  bytesDispatched = 0;
  /** Bytes written at the destination (acked end to end). */
  bytesDone = 0;
  /**
   * Bytes written at the destination as its gateways report them: ahead of `bytesDone`, which waits
   * for each chunk's ack to travel back to the source; what a progress bar shows.
   */
  bytesLanded = 0;
  /** Chunks in the transfer. */
  chunksTotal = 0;
  /** Chunks written. */
  chunksDone = 0;
  /** Chunks that failed. */
  chunksFailed = 0;
  /** Set once the transfer ended, successfully or not. */
  finished = false;
  /** The error that ended the transfer, if any. */
  error?: Error;
  private readonly listeners = new Set<TransferListener>();

  /** Adds a listener; returns a function that removes it. */
  on(listener: TransferListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records an event and tells every listener. A listener that throws does not stop the transfer. */
  emit(event: TransferEvent): void {
    switch (event.type) {
      case "planned":
        this.bytesTotal = event.bytes;
        this.chunksTotal = event.chunks;
        break;
      case "dispatched":
        this.bytesDispatched += event.bytes;
        break;
      case "chunk_done":
        this.bytesDone += event.bytes;
        this.bytesLanded = Math.max(this.bytesLanded, this.bytesDone);
        this.chunksDone++;
        break;
      case "landed":
        this.bytesLanded = Math.max(this.bytesLanded, event.bytes);
        break;
      case "chunk_failed":
        this.chunksFailed++;
        break;
      case "done":
        this.finished = true;
        break;
      case "failed":
        this.finished = true;
        this.error = event.error;
        break;
      case "object_done":
      case "verified":
        break;
      default: {
        const never: never = event;
        throw new SkyplaneError("UNREACHABLE", `unknown event ${JSON.stringify(never)}`);
      }
    }
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A rendering problem must not break the transfer.
      }
    }
  }
}
