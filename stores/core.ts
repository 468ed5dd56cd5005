/*
 * The stores' interface, registry and helpers, without the cloud adapters' classes: those load their
 * SDKs (most of a second together), which the registry loads only when a URI of theirs is opened. The
 * runner imports this; `stores/index.ts` adds the adapters' classes for code that names them.
 */
export * from "./types";
export * from "./checksum";
export * from "./hashes";
export { LocalStore } from "./local";
export {
  bucketUri,
  createBucket,
  localBucketRoot,
  openStore,
  parseStoreUri,
  storeEnv,
  STORE_ENV_VARS,
  folderRecords,
} from "./registry";
export type { StoreContext, StoreUri } from "./registry";
