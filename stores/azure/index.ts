import { BlobServiceClient, ContainerClient, RestError } from "@azure/storage-blob";
import { bucketExists, checksumMismatch, cloudFeatures, creationRegion, joined } from "../common";
import { Hashes } from "../hashes";
import { StagedMultipartStore } from "../multipart";
import { httpVerdict, isTransientNetworkError, Verdict } from "../retry";
import {
  EMULATED_REGIONS,
  ListOptions,
  ListPage,
  ObjectInfo,
  ObjectStore,
  StoreError,
  StoreFeatures,
  UploadedPart,
  WriteData,
} from "../types";
import { locationRegion } from "../../common/regions";
import { AccessToken, ImdsCredential } from "./imds";

/*
 * Azure Blob Storage: `azure://ACCOUNT/CONTAINER/KEY`. Credentials: AZURE_STORAGE_CONNECTION_STRING (also
 * how Azurite is reached), or an explicit connection string; or, on an Azure VM (a gateway), the VM's
 * managed identity, whose tokens come from IMDS (imds.ts), chosen by SKYPLANE_AZURE_AUTH=managed-identity
 * (SKYPLANE_AZURE_IMDS_ENDPOINT and SKYPLANE_AZURE_BLOB_ENDPOINT point it at stand-ins in a rehearsal). A multipart upload is a block list: parts
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

/** The MD5 a write sends, as the SDK takes it. */
function md5Of(sent: Hashes): Uint8Array {
  return Buffer.from(sent.md5 as string, "hex");
}

/** How an AzureStore reaches its account. */
export interface AzureSettings {
  /** A connection string (an account key or SAS); default AZURE_STORAGE_CONNECTION_STRING. */
  readonly connectionString?: string;
  /** A token credential instead (default an ImdsCredential when SKYPLANE_AZURE_AUTH=managed-identity). */
  readonly credential?: { getToken(scopes: string | string[]): Promise<AccessToken | null> };
  /** With a credential: the blob service URL; default SKYPLANE_AZURE_BLOB_ENDPOINT, else the account's. */
  readonly endpoint?: string;
}

/** An Azure Blob container. */
export class AzureStore extends StagedMultipartStore implements ObjectStore {
  override readonly scheme = "azure";
  override readonly features: StoreFeatures = cloudFeatures({
    // https://learn.microsoft.com/rest/api/storageservices/understanding-block-blobs--append-blobs--and-page-blobs
    maxPartBytes: 4000 * 1024 ** 2,
    maxParts: 50_000,
    maxObjectBytes: 50_000 * 4000 * 1024 ** 2,
    hashes: ["md5"],
    multipartHash: "none",
  });
  private readonly container: ContainerClient;
  /** True when the account is Azurite (a development endpoint). */
  readonly emulated: boolean;

  constructor(
    /** `ACCOUNT/CONTAINER`. */
    override readonly bucket: string,
    settings: AzureSettings = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
    super();
    const [account, containerName] = bucket.split("/");
    const credential =
      settings.credential ??
      (env.SKYPLANE_AZURE_AUTH === "managed-identity"
        ? new ImdsCredential({ endpoint: env.SKYPLANE_AZURE_IMDS_ENDPOINT })
        : undefined);
    if (credential) {
      // The blob service of the account; a custom endpoint (an emulator, a rehearsal) serves every account.
      const endpoint = settings.endpoint ?? env.SKYPLANE_AZURE_BLOB_ENDPOINT;
      const service = new BlobServiceClient(
        endpoint ?? `https://${account}.blob.core.windows.net`,
        credential,
        { retryOptions: { maxTries: 1 } },
      );
      this.emulated = endpoint !== undefined;
      this.container = service.getContainerClient(containerName);
      return;
    }
    const connectionString = settings.connectionString ?? env.AZURE_STORAGE_CONNECTION_STRING;
    if (!connectionString) {
      throw new StoreError(
        "NO_CREDENTIALS",
        `no Azure credentials for ${account}: set AZURE_STORAGE_CONNECTION_STRING (from 'az storage account show-connection-string'), or SKYPLANE_AZURE_AUTH=managed-identity on an Azure VM with a managed identity`,
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

  protected override verdict(err: unknown): Verdict {
    return azureVerdict(err);
  }

  protected override call<T>(fn: () => Promise<T>, key?: string): Promise<T> {
    return super.call(fn, key).catch(async (err) => {
      // A missing container can look like a missing blob (404 BlobNotFound): tell them apart.
      if (
        err instanceof StoreError &&
        err.code === "NO_SUCH_KEY" &&
        !(await this.container.exists())
      )
        throw this.noContainer();
      throw err;
    });
  }

  /** The error of a container that does not exist. */
  private noContainer(): unknown {
    return this.explain(
      new RestError("container missing", { statusCode: 404, code: "ContainerNotFound" }),
    );
  }

  protected override explain(err: unknown, key?: string): unknown {
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
    if (err.code === "ContainerAlreadyExists") return bucketExists(this);
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

  override async exists(): Promise<boolean> {
    return this.call(() => this.container.exists());
  }

  /** Makes the container, in its storage account's location (`region` must be Azure's all the same). */
  async createBucket(region: string): Promise<void> {
    creationRegion(this, region);
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

  protected override async headObject(key: string): Promise<ObjectInfo> {
    const p = await this.call(() => this.container.getBlobClient(key).getProperties(), key);
    return {
      key,
      size: p.contentLength ?? 0,
      lastModified: p.lastModified ?? new Date(0),
      hashes: azureHashes(p.contentMD5),
    };
  }

  protected override read(
    key: string,
    range?: { offset: number; length: number },
  ): Promise<Buffer> {
    const blob = this.container.getBlobClient(key);
    return this.call(async () => {
      if (!range) return blob.downloadToBuffer();
      const size = (await blob.getProperties()).contentLength ?? 0;
      const length = Math.min(range.length, Math.max(0, size - range.offset));
      return length === 0 ? Buffer.alloc(0) : blob.downloadToBuffer(range.offset, length);
    }, key);
  }

  protected override async write(key: string, data: WriteData, sent: Hashes): Promise<Hashes> {
    const body = joined(data);
    // Put Blob's transactional Content-MD5 (the SDK passes it through though its type omits it).
    const r = await this.call(
      () =>
        this.container
          .getBlockBlobClient(key)
          .upload(body, body.length, { transactionalContentMD5: md5Of(sent) } as object),
      key,
    );
    return azureHashes(r.contentMD5);
  }

  /** Block ids of one upload: equal length, as Azure requires. */
  private blockId(uploadId: string, partNumber: number): string {
    return Buffer.from(`${uploadId}-${String(partNumber).padStart(6, "0")}`).toString("base64");
  }

  /** The blob that marks an open upload. */
  private mark(key: string, uploadId: string): string {
    return `${key}${MARK}${uploadId}`;
  }

  protected override async openUpload(key: string, uploadId: string): Promise<void> {
    await this.call(
      () => this.container.getBlockBlobClient(this.mark(key, uploadId)).upload(Buffer.alloc(0), 0),
      key,
    );
  }

  protected override isOpen(key: string, uploadId: string): Promise<boolean> {
    return this.call(() => this.container.getBlobClient(this.mark(key, uploadId)).exists(), key);
  }

  protected override async stagePart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Buffer,
    sent: Hashes,
  ): Promise<Hashes> {
    const md5 = md5Of(sent);
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
    return azureHashes(r.contentMD5 ?? md5);
  }

  protected override async stagedParts(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
  ): Promise<ReadonlySet<number>> {
    const blob = this.container.getBlockBlobClient(key);
    const staged = new Set(
      ((await this.call(() => blob.getBlockList("uncommitted"), key)).uncommittedBlocks ?? []).map(
        (b) => b.name,
      ),
    );
    return new Set(
      parts
        .filter((p) => staged.has(this.blockId(uploadId, p.partNumber)))
        .map((p) => p.partNumber),
    );
  }

  protected override async joinParts(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
  ): Promise<void> {
    await this.call(
      () =>
        this.container
          .getBlockBlobClient(key)
          .commitBlockList(parts.map((p) => this.blockId(uploadId, p.partNumber))),
      key,
    );
    await this.dropUpload(key, uploadId);
  }

  protected override async dropUpload(key: string, uploadId: string): Promise<void> {
    // Uncommitted blocks are dropped by Azure; removing the mark closes the upload now.
    await this.call(
      () => this.container.getBlobClient(this.mark(key, uploadId)).deleteIfExists(),
      key,
    );
  }

  async delete(key: string): Promise<void> {
    if (!(await this.exists())) throw this.noContainer();
    await this.call(() => this.container.getBlobClient(key).deleteIfExists(), key);
  }
}
