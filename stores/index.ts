export * from "./types";
export * from "./checksum";
export { LocalStore } from "./local";
export { bucketUri, localBucketRoot, openStore, parseStoreUri } from "./registry";
export type { StoreContext, StoreUri } from "./registry";
