import * as crypto from "node:crypto";
import { BlobServiceClient, ContainerClient, RestError } from "@azure/storage-blob";
import { checksumMismatch, hashesOf, headOrMissing, intoBuffer } from "../common";
import { Hashes, hashParts } from "../hashes";
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
import { locationRegion } from "../../common/regions";

/*
 * Azure Blob Storage: `azure://ACCOUNT/CONTAINER/KEY`. Credentials: AZURE_STORAGE_CONNECTION_STRING (also
 * how Azurite is reached), or an explicit connection string. A multipart upload is a block list: parts
 * are staged blocks, committed at completion (only then does the blob appear). An open upload is marked
 * by a hidden blob, so that parts sent after an abort are refused.
 *
 * Integrity: every Put Blob and Put Block carries the transactional Content-MD5 of its bytes, which
 * Azure checks before it stores them (400 Md5Mismatch otherwise), and answers with the MD5 it computed;
 * a blob written whole keeps that MD5 as its Content-MD5, reported by `head`. A committed block list has
 * no hash of the whole blob (Azure computes none), so `multipartHash` is "none" and a caller that must
 * prove such a blob reads it back. Azurite checks the transactional MD5 and keeps Content-MD5 as Azure does.
 */

/** Hidden blob marking an open upload: `<key>.skyplane-upload-<id>`. */
const MARK = ".skyplane-upload-";

/** Classifies Azure errors for the retry helper. */
export function azureVerdict(err: unknown): Verdict {
  if (err instanceof RestError)
    return httpVerdict(err.statusCode, err.response?.headers.get("retry-after"));
  return { retry: isTransientNetworkError(err) };
}

/** The hashes Azure computed of a blob or block: its Content-MD5, when it has one. */
export function azureHashes(md5?: Uint8Array): Hashes {
  return md5 && md5.length === 16 ? { md5: Buffer.from(md5).toString("hex") } : {};
}

/** An Azure Blob container. */
export class AzureStore implements ObjectStore {
  readonly scheme = "azure";
  readonly features: StoreFeatures = {
    multipart: true,
    serverSideCopy: true,
    // https://learn.microsoft.com/rest/api/storageservices/understanding-block-blobs--append-blobs--and-page-blobs
    maxPartBytes: 4000 * 1024 ** 2,
    maxParts: 50_000,
    maxObjectBytes: 50_000 * 4000 * 1024 ** 2,
    hashes: ["md5"],
    multipartHash: "none",
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
    // Azure answers Md5Mismatch; Azurite InvalidOperation "Provided contentMD5 doesn't match".
    if (
      err.code === "Md5Mismatch" ||
      err.code === "Crc64Mismatch" ||
      (err.statusCode === 400 && /contentMD5 doesn't match/i.test(err.message))
    )
      return checksumMismatch(key ?? "", `Azure refused the bytes as sent (${err.code})`);
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
    return location ? locationRegion("azure", location) : undefined;
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
          hashes: azureHashes((b.properties as { contentMD5?: Uint8Array }).contentMD5),
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
          hashes: azureHashes(p.contentMD5),
        };
      },
      () => this.exists(),
    );
  }

  async hashes(key: string): Promise<Hashes | undefined> {
    return hashesOf(this, key);
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
    const md5 = await this.md5(data, opts);
    // Put Blob's transactional Content-MD5 (the SDK passes it through though its type omits it).
    const r = await this.call(
      () =>
        this.container
          .getBlockBlobClient(key)
          .upload(body, body.length, { transactionalContentMD5: md5 } as object),
      key,
    );
    return { key, size: body.length, lastModified: new Date(), hashes: azureHashes(r.contentMD5) };
  }

  /** The MD5 to send with a write: the caller's, else computed here. */
  private async md5(data: WriteData, opts: WriteOptions): Promise<Uint8Array> {
    const hex = opts.hashes?.md5 ?? (await hashParts(["md5"], pieces(data))).md5;
    return Buffer.from(hex as string, "hex");
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
    const md5 = await this.md5(data, opts);
    const r = await this.call(
      () =>
        this.container
          .getBlockBlobClient(key)
          .stageBlock(this.blockId(uploadId, partNumber), body, body.length, {
            transactionalContentMD5: md5,
          }),
      key,
    );
    // Azure answers Put Block with the MD5 it computed; Azurite answers none. Either way the service
    // checked the block against the transactional MD5 it came with (a mismatch is refused), so that
    // MD5 is what the service holds.
    return { partNumber, hashes: azureHashes(r.contentMD5 ?? md5) };
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
    await this.call(
      () => blob.commitBlockList(sorted.map((p) => this.blockId(uploadId, p.partNumber))),
      key,
    );
    await this.call(
      () => this.container.getBlobClient(`${key}${MARK}${uploadId}`).deleteIfExists(),
      key,
    );
    const info = await this.head(key);
    return {
      key,
      size: info?.size ?? 0,
      lastModified: info?.lastModified ?? new Date(),
      hashes: info?.hashes ?? {},
    };
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
