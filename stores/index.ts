export * from "./core";
export { S3Store } from "./s3";
export { GcsStore } from "./gcs";
export { AzureStore } from "./azure";
