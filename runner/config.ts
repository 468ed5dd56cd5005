import type { Compression } from "../planner/program";
import { DEFAULT_CHUNKING } from "./chunker";

/** How transfers move data; every field has a default. */
export interface TransferConfig {
  /** Compression on the wire (skipped for chunks that do not shrink). Default zstd. */
  readonly compress: Compression;
  /** AES-256-GCM on the wire under a per-dataplane key. Default true. */
  readonly encrypt: boolean;
  /** Objects larger than this go in parts with multipart uploads. Default 128 MiB. */
  readonly multipartThresholdBytes: number;
  /** Size of each part. Default 64 MiB. */
  readonly partSizeBytes: number;
  /** TCP connections per source gateway. Default 32. */
  readonly connectionsPerGateway: number;
  /** Check size and checksum of every object at the end. Default true. */
  readonly verify: boolean;
}

/** Skyplane's defaults. */
export const DEFAULT_TRANSFER_CONFIG: TransferConfig = {
  compress: "zstd",
  encrypt: true,
  multipartThresholdBytes: DEFAULT_CHUNKING.multipartThresholdBytes,
  partSizeBytes: DEFAULT_CHUNKING.partSizeBytes,
  connectionsPerGateway: 32,
  verify: true,
};

/**
 * AWS credentials and settings. Without arguments the SDK's standard credential chain applies
 * (environment, shared config and credentials files, SSO, instance metadata).
 */
export class AWSConfig {
  /** Provider name. */
  readonly provider = "aws" as const;
  constructor(
    /** Explicit settings; each defaults to the credential chain. */
    readonly options: {
      readonly accessKeyId?: string;
      readonly secretAccessKey?: string;
      readonly sessionToken?: string;
      readonly profile?: string;
      readonly endpoint?: string;
    } = {},
  ) {}
}

/** GCP credentials: Application Default Credentials unless a key file or project is given. */
export class GCPConfig {
  /** Provider name. */
  readonly provider = "gcp" as const;
  constructor(
    /** Explicit settings; each defaults to Application Default Credentials. */
    readonly options: {
      readonly projectId?: string;
      readonly keyFilename?: string;
      readonly apiEndpoint?: string;
    } = {},
  ) {}
}

/** Azure credentials: AZURE_STORAGE_CONNECTION_STRING or DefaultAzureCredential unless given. */
export class AzureConfig {
  /** Provider name. */
  readonly provider = "azure" as const;
  constructor(
    /** Explicit settings; each defaults to the environment. */
    readonly options: { readonly connectionString?: string; readonly subscriptionId?: string } = {},
  ) {}
}
