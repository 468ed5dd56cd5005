import { SkyplaneClient } from "../../runner";
import { bucketUri, ObjectStore, openStore, StoreContext, StoreUri } from "../../stores";

/** One call on a store: which bucket, which method, with what. */
export interface StoreCall {
  readonly bucket: string;
  readonly method: string;
  readonly args: readonly unknown[];
}

/** `store` with every method call recorded in `calls` (then passed on as it was). */
export function counting(store: ObjectStore, uri: StoreUri, calls: StoreCall[]): ObjectStore {
  const bucket = bucketUri(uri);
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return (...args: unknown[]) => {
        calls.push({ bucket, method: prop, args });
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** An opener (`PlanContext.open`) whose stores record their calls. */
export function countingOpener(calls: StoreCall[]) {
  return (uri: StoreUri, ctx: StoreContext): ObjectStore =>
    counting(openStore(uri, ctx), uri, calls);
}

/**
 * Listings started on `bucket`: `iterate` calls (a walk of a folder's every key) and `list` calls
 * without a page token (each page after is one more call).
 */
export function listings(calls: readonly StoreCall[], bucket: string): number {
  return calls.filter(
    (c) =>
      c.bucket === bucket &&
      (c.method === "iterate" ||
        (c.method === "list" &&
          (c.args[0] as { token?: string } | undefined)?.token === undefined)),
  ).length;
}

/** Calls of `method` on `bucket`. */
export function callsOf(calls: readonly StoreCall[], bucket: string, method: string): number {
  return calls.filter((c) => c.bucket === bucket && c.method === method).length;
}

/** A client whose every store (its own and its dataplanes') records its calls in `calls`. */
export class CountingClient extends SkyplaneClient {
  /** Every store call, in order. */
  readonly calls: StoreCall[] = [];

  protected override openStore(uri: StoreUri, ctx: StoreContext): ObjectStore {
    return counting(super.openStore(uri, ctx), uri, this.calls);
  }
}
