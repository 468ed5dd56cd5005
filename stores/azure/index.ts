import * as crypto from "node:crypto";
import { BlobServiceClient, ContainerClient, RestError } from "@azure/storage-blob";
import { checksumOf, headOrMissing, intoBuffer } from "../common";
import { compositeChecksum, crc32, crc32Of, formatCrc } from "../checksum";
import { httpVerdict, isTransientNetworkError, Verdict, withRetries } from "../retry";
import {
  EMULATED_REGIONS,
  ListOptions,
  ListPage,
  ObjectInfo,
  ObjectStore,
  pieces,
  StoreError,
  StoreFeatures,
  UploadedPart,
  WriteData,
  WriteOptions,
} from "../types";
import { bucketRegion } from "../../planner/regions";

/*
 * Azure Blob Storage: `azure://ACCOUNT/CONTAINER/KEY`. Credentials: AZURE_STORAGE_CONNECTION_STRING (also
 * how Azurite is reached), or an explicit connection string. A multipart upload is a block list: parts
 * are staged blocks, committed at completion (only then does the blob appear). An open upload is marked
 * by a hidden blob, so that parts sent after an abort are refused. Skyplane records each blob's CRC-32
 * as the metadata `skyplanecrc32` (Azure metadata names are identifiers).
 */

const META = "skyplanecrc32";
/** Hidden blob marking an open upload: `<key>.skyplane-upload-<id>`. */
const MARK = ".skyplane-upload-";

/** Classifies Azure errors for the retry helper. */
export function azureVerdict(err: unknown): Verdict {
  if (err instanceof RestError)
    return httpVerdict(err.statusCode, err.response?.headers.get("retry-after"));
  return { retry: isTransientNetworkError(err) };
}

/** An Azure Blob container. */
export class AzureStore implements ObjectStore {
  readonly scheme = "azure";
  readonly features: StoreFeatures = {
    multipart: true,
    serverSideCopy: true,
    maxPartBytes: 4000 * 1024 ** 2,
  };
  private readonly container: ContainerClient;
  /** True when the account is Azurite (a development endpoint). */
  readonly emulated: boolean;

  constructor(
    /** `ACCOUNT/CONTAINER`. */
    readonly bucket: string,
    settings: { connectionString?: string } = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const connectionString = settings.connectionString ?? env.AZURE_STORAGE_CONNECTION_STRING;
    const [account, containerName] = bucket.split("/");
    if (!connectionString) {
      throw new StoreError(
        "NO_CREDENTIALS",
        `no Azure credentials for ${account}: set AZURE_STORAGE_CONNECTION_STRING (from 'az storage account show-connection-string')`,
      );
    }
    const service = BlobServiceClient.fromConnectionString(connectionString, {
      retryOptions: { maxTries: 1 },
    });
    if (service.accountName !== account) {
      throw new StoreError(
        "INVALID_URI",
        `azure://${bucket}: the connection string is for account ${service.accountName}, not ${account}`,
      );
    }
    this.emulated =
      /AccountName=devstoreaccount1/.test(connectionString) ||
      /127\.0\.0\.1|localhost/.test(connectionString);
    this.container = service.getContainerClient(containerName);
  }

  private call<T>(fn: () => Promise<T>, key?: string): Promise<T> {
    return withRetries(fn, azureVerdict).catch(async (err) => {
      const explained = this.explain(err, key);
      // A missing container can look like a missing blob (404 BlobNotFound): tell them apart.
      if (
        explained instanceof StoreError &&
        explained.code === "NO_SUCH_KEY" &&
        !(await this.container.exists())
      ) {
        throw this.explain(
          new RestError("container missing", { statusCode: 404, code: "ContainerNotFound" }),
        );
      }
      throw explained;
    });
  }

  private explain(err: unknown, key?: string): unknown {
    if (!(err instanceof RestError)) return err;
    if (err.code === "ContainerNotFound" || (err.statusCode === 404 && key === undefined)) {
      return new StoreError(
        "NO_SUCH_BUCKET",
        `container azure://${this.bucket} does not exist: create it with 'skyplane mb azure://${this.bucket} --region azure:<region>'`,
      );
    }
    if (err.statusCode === 404)
      return new StoreError("NO_SUCH_KEY", `no blob ${key} in azure://${this.bucket}`);
    if (err.statusCode === 403)
      return new StoreError(
        "ACCESS_DENIED",
        `access to azure://${this.bucket} was denied: check the connection string`,
      );
    return err;
  }

  async region(): Promise<string | undefined> {
    // An emulator runs on this machine: its buckets are in a local region. The blob API does not tell a
    // storage account's location, so a real one's comes from SKYPLANE_AZURE_REGION (e.g. westeurope).
    if (this.emulated) return EMULATED_REGIONS.azure;
    const location = process.env.SKYPLANE_AZURE_REGION;
    return location ? bucketRegion("azure", location) : undefined;
  }

  async exists(): Promise<boolean> {
    return this.call(() => this.container.exists());
  }

  /** Creates the container. */
  async create(): Promise<void> {
    await this.call(() => this.container.create());
  }

  async list(opts: ListOptions = {}): Promise<ListPage> {
    const pageSize = opts.maxKeys ?? 1000;
    const page = opts.delimiter
      ? (
          await this.call(() =>
            this.container
              .listBlobsByHierarchy(opts.delimiter as string, {
                prefix: opts.prefix || undefined,
                includeMetadata: true,
              })
              .byPage({ maxPageSize: pageSize, continuationToken: opts.token })
              .next(),
          )
        ).value
      : (
          await this.call(() =>
            this.container
              .listBlobsFlat({ prefix: opts.prefix || undefined, includeMetadata: true })
              .byPage({ maxPageSize: pageSize, continuationToken: opts.token })
              .next(),
          )
        ).value;
    const items = page.segment.blobItems as Array<{
      name: string;
      properties: { contentLength?: number; lastModified: Date };
      metadata?: Record<string, string>;
    }>;
    const prefixes = (
      (page.segment as { blobPrefixes?: Array<{ name: string }> }).blobPrefixes ?? []
    ).map((p) => p.name);
    return {
      objects: items
        .filter((b) => !b.name.includes(MARK))
        .map((b) => ({
          key: b.name,
          size: b.properties.contentLength ?? 0,
          lastModified: b.properties.lastModified,
          checksum: b.metadata?.[META],
        })),
      prefixes: prefixes.filter((p) => !p.includes(MARK)),
      ...(page.continuationToken ? { nextToken: page.continuationToken } : {}),
    };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return headOrMissing(
      async () => {
        const p = await this.call(() => this.container.getBlobClient(key).getProperties(), key);
        return {
          key,
          size: p.contentLength ?? 0,
          lastModified: p.lastModified ?? new Date(0),
          checksum: p.metadata?.[META],
        };
      },
      () => this.exists(),
    );
  }

  async checksum(key: string): Promise<string | undefined> {
    return checksumOf(this, key);
  }

  async get(
    key: string,
    range?: { offset: number; length: number },
    into?: Buffer,
  ): Promise<Buffer> {
    if (range && range.length === 0) return Buffer.alloc(0);
    const blob = this.container.getBlobClient(key);
    const bytes = await this.call(async () => {
      if (!range) return blob.downloadToBuffer();
      const size = (await blob.getProperties()).contentLength ?? 0;
      const length = Math.min(range.length, Math.max(0, size - range.offset));
      return length === 0 ? Buffer.alloc(0) : blob.downloadToBuffer(range.offset, length);
    }, key);
    return intoBuffer(bytes, into);
  }

  async put(key: string, data: WriteData, opts: WriteOptions = {}): Promise<ObjectInfo> {
    const body = Buffer.concat(pieces(data) as Buffer[]);
    const crc = formatCrc(opts.crc32 ?? crc32(body));
    await this.call(
      () =>
        this.container
          .getBlockBlobClient(key)
          .upload(body, body.length, { metadata: { [META]: crc } }),
      key,
    );
    return { key, size: body.length, lastModified: new Date(), checksum: crc };
  }

  /** Block ids of one upload: equal length, as Azure requires. */
  private blockId(uploadId: string, partNumber: number): string {
    return Buffer.from(`${uploadId}-${String(partNumber).padStart(6, "0")}`).toString("base64");
  }

  async createMultipartUpload(key: string): Promise<string> {
    const id = crypto.randomBytes(12).toString("hex");
    await this.call(
      () => this.container.getBlockBlobClient(`${key}${MARK}${id}`).upload(Buffer.alloc(0), 0),
      key,
    );
    return id;
  }

  private async mustBeOpen(key: string, uploadId: string): Promise<void> {
    const open = await this.call(
      () => this.container.getBlobClient(`${key}${MARK}${uploadId}`).exists(),
      key,
    );
    if (!open)
      throw new StoreError(
        "NO_SUCH_UPLOAD",
        `no multipart upload ${uploadId} of ${key} in azure://${this.bucket}`,
      );
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    data: WriteData,
    opts: WriteOptions = {},
  ): Promise<UploadedPart> {
    await this.mustBeOpen(key, uploadId);
    const body = Buffer.concat(pieces(data) as Buffer[]);
    await this.call(
      () =>
        this.container
          .getBlockBlobClient(key)
          .stageBlock(this.blockId(uploadId, partNumber), body, body.length),
      key,
    );
    return { partNumber, checksum: formatCrc(opts.crc32 ?? crc32Of(pieces(data))) };
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<ObjectInfo> {
    await this.mustBeOpen(key, uploadId);
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const blob = this.container.getBlockBlobClient(key);
    const staged = new Set(
      ((await this.call(() => blob.getBlockList("uncommitted"), key)).uncommittedBlocks ?? []).map(
        (b) => b.name,
      ),
    );
    const missing = sorted.find((p) => !staged.has(this.blockId(uploadId, p.partNumber)));
    if (missing)
      throw new StoreError(
        "INVALID_PART",
        `part ${missing.partNumber} of ${key} was never uploaded`,
      );
    const checksum = compositeChecksum(sorted.map((p) => p.checksum));
    await this.call(
      () =>
        blob.commitBlockList(
          sorted.map((p) => this.blockId(uploadId, p.partNumber)),
          { metadata: { [META]: checksum } },
        ),
      key,
    );
    await this.call(
      () => this.container.getBlobClient(`${key}${MARK}${uploadId}`).deleteIfExists(),
      key,
    );
    const info = await this.head(key);
    return { key, size: info?.size ?? 0, lastModified: info?.lastModified ?? new Date(), checksum };
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.mustBeOpen(key, uploadId);
    // Uncommitted blocks are dropped by Azure; removing the mark closes the upload now.
    await this.call(
      () => this.container.getBlobClient(`${key}${MARK}${uploadId}`).deleteIfExists(),
      key,
    );
  }

  async delete(key: string): Promise<void> {
    if (!(await this.exists()))
      throw this.explain(
        new RestError("container missing", { statusCode: 404, code: "ContainerNotFound" }),
      );
    await this.call(() => this.container.getBlobClient(key).deleteIfExists(), key);
  }
}
