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
export { S3Store } from "./s3";
export { GcsStore } from "./gcs";
export { AzureStore } from "./azure";
export type { StoreContext, StoreUri } from "./registry";
