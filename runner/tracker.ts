import type { TransferResult } from "./transfer";
import { TransferEvent, TransferProgress } from "./progress";

/** A transfer event, tagged with the queued job it belongs to (0-based). */
export type TrackerEvent = TransferEvent & { readonly job: number };

/** Follows a dataplane run: byte counters, typed events, and the final results (one per job). */
export class Tracker<R extends TransferResult = TransferResult> {
  private readonly listeners = new Set<(e: TrackerEvent) => void>();
  private readonly done: Promise<R[]>;
  private complete = false;

  /** @internal Built by `Dataplane.runAsync()`. */
  constructor(
    /** Progress of each queued job, in order. */
    readonly jobs: readonly TransferProgress[],
    run: () => Promise<R[]>,
  ) {
    jobs.forEach((p, job) => p.on((e) => this.listeners.forEach((l) => l({ ...e, job }))));
    this.done = run().finally(() => {
      this.complete = true;
    });
    // A caller that never joins must not crash the process with an unhandled rejection.
    this.done.catch(() => undefined);
  }

  /** Bytes still to move; undefined until every job has been listed and planned. */
  queryBytesRemaining(): number | undefined {
    if (this.jobs.some((p) => p.bytesTotal === 0 && !p.finished && p.chunksTotal === 0))
      return undefined;
    return this.jobs.reduce((n, p) => n + (p.bytesTotal - p.bytesDone), 0);
  }

  /** Bytes written at the destinations so far, as their gateways report them (`TransferProgress.bytesLanded`). */
  queryBytesLanded(): number {
    return this.jobs.reduce((n, p) => n + p.bytesLanded, 0);
  }

  /** Bytes handed to source gateways so far. */
  queryBytesDispatched(): number {
    return this.jobs.reduce((n, p) => n + p.bytesDispatched, 0);
  }

  /** True once every job has finished, successfully or not. */
  isComplete(): boolean {
    return this.complete;
  }

  /** Calls `listener` for every event of every job; returns a function that stops it. */
  on(listener: (e: TrackerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for every job; rejects with the first job's error. */
  join(): Promise<R[]> {
    return this.done;
  }
}
