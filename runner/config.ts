import type { Compression } from "../planner/program";
import { ChunkingOptions, DEFAULT_CHUNKING } from "./chunker";

/**
 * How transfers move data; every field has a default. Its chunking fields (`multipartThresholdBytes`,
 * `partSizeBytes`: objects above 128 MiB go in parts of 64 MiB) are the `ChunkingOptions` every plan
 * carries to the chunker.
 */
export interface TransferConfig extends ChunkingOptions {
  /** Compression on the wire (skipped for chunks that do not shrink). Default zstd. */
  readonly compress: Compression;
  /** AES-256-GCM on the wire under a per-dataplane key. Default true. */
  readonly encrypt: boolean;
  /** TCP connections per source gateway. Default 32. */
  readonly connectionsPerGateway: number;
  /** Check size and checksum of every object at the end. Default true. */
  readonly verify: boolean;
}

/** Skyplane's defaults. */
export const DEFAULT_TRANSFER_CONFIG: TransferConfig = {
  compress: "zstd",
  encrypt: true,
  ...DEFAULT_CHUNKING,
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

/**
 * The environment a client's credentials amount to, for its stores, its local gateways and the Pulumi
 * providers that build cloud gateways (each reads these variables): an explicit setting wins over the
 * process's own environment, which the SDKs' credential chains read otherwise.
 */
export function credentialEnv(configs: {
  aws?: AWSConfig;
  gcp?: GCPConfig;
  azure?: AzureConfig;
}): Record<string, string> {
  const out: Record<string, string | undefined> = {};
  const aws = configs.aws?.options;
  if (aws) {
    out.AWS_PROFILE = aws.profile;
    out.AWS_ACCESS_KEY_ID = aws.accessKeyId;
    out.AWS_SECRET_ACCESS_KEY = aws.secretAccessKey;
    out.AWS_SESSION_TOKEN = aws.sessionToken;
    out.AWS_ENDPOINT_URL_S3 = aws.endpoint;
  }
  const gcp = configs.gcp?.options;
  if (gcp) {
    out.GOOGLE_CLOUD_PROJECT = gcp.projectId;
    out.GOOGLE_PROJECT = gcp.projectId; // the Pulumi GCP provider's name for it
    out.GOOGLE_APPLICATION_CREDENTIALS = gcp.keyFilename;
    out.STORAGE_EMULATOR_HOST = gcp.apiEndpoint;
  }
  const azure = configs.azure?.options;
  if (azure) {
    out.AZURE_STORAGE_CONNECTION_STRING = azure.connectionString;
    out.ARM_SUBSCRIPTION_ID = azure.subscriptionId; // the Pulumi Azure provider's name for it
  }
  return Object.fromEntries(
    Object.entries(out).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""),
  );
}
