import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { checksumOf, headOrMissing, intoBuffer } from "../common";
import { compositeChecksum, crc32, crc32Of, formatCrc } from "../checksum";
import { httpVerdict, isTransientNetworkError, Verdict, withRetries } from "../retry";
import {
  byteLength,
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
 * Amazon S3 and S3-compatible endpoints (MinIO, R2, Wasabi, emulators). Credentials and endpoint come
 * from the AWS SDK's standard chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared
 * files, SSO, instance roles; AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for another endpoint (path-style).
 * Skyplane records each object's CRC-32 (composite for multipart) as the metadata `skyplane-crc32`.
 */

const META = "skyplane-crc32";
/** S3 copies at most 5 GiB in one CopyObject; larger multipart objects keep no skyplane checksum. */
const MAX_COPY = 5 * 1024 ** 3;

/** Settings of an S3 store; each defaults to the environment. */
export interface S3Settings {
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** Classifies S3 errors for the retry helper: 5xx, throttling and dropped connections are transient. */
export function s3Verdict(err: unknown): Verdict {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata?.httpStatusCode;
    if (err.name === "SlowDown" || err.name === "RequestLimitExceeded") return { retry: true };
    const retryAfter = (err.$response?.headers as Record<string, string> | undefined)?.[
      "retry-after"
    ];
    return httpVerdict(status, retryAfter);
  }
  return { retry: isTransientNetworkError(err) };
}

/** An S3 bucket. */
export class S3Store implements ObjectStore {
  readonly scheme = "s3";
  readonly features: StoreFeatures = {
    multipart: true,
    serverSideCopy: true,
    maxPartBytes: 5 * 1024 ** 3,
  };
  private readonly client: S3Client;

  constructor(
    readonly bucket: string,
    settings: S3Settings = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const endpoint = settings.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
    // Keys in the given environment are used as they are; otherwise the SDK's chain looks for them.
    const fromEnv =
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            sessionToken: env.AWS_SESSION_TOKEN,
          }
        : undefined;
    const credentials = settings.credentials ?? fromEnv;
    this.client = new S3Client({
      region: settings.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      ...(credentials ? { credentials } : {}),
      // A profile in the given environment (a client's AWSConfig) applies even if the process has another.
      ...(!credentials && env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {}),
      maxAttempts: 1, // withRetries is the one retry policy
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    this.emulated = endpoint !== undefined;
  }

  /** True when the store is a custom endpoint (an emulator or another S3-compatible service). */
  readonly emulated: boolean;

  private call<T>(fn: () => Promise<T>, key?: string, uploadId?: string): Promise<T> {
    return withRetries(fn, s3Verdict).catch((err) => {
      throw this.explain(err, key, uploadId);
    });
  }

  private explain(err: unknown, key?: string, uploadId?: string): unknown {
    const name = (err as Error)?.name ?? "";
    const status = (err as S3ServiceException).$metadata?.httpStatusCode;
    if (uploadId && (name === "NoSuchUpload" || status === 404)) {
      return new StoreError(
        "NO_SUCH_UPLOAD",
        `no multipart upload ${uploadId} of ${key} in s3://${this.bucket}`,
      );
    }
    if (name === "NoSuchBucket" || (status === 404 && key === undefined)) {
      return new StoreError(
        "NO_SUCH_BUCKET",
        `bucket s3://${this.bucket} does not exist: create it with 'skyplane mb s3://${this.bucket} --region aws:<region>'`,
      );
    }
    if (name === "NoSuchKey" || (status === 404 && key !== undefined))
      return new StoreError("NO_SUCH_KEY", `no object ${key} in s3://${this.bucket}`);
    if (name === "NoSuchUpload")
      return new StoreError(
        "NO_SUCH_UPLOAD",
        `no multipart upload of ${key} in s3://${this.bucket}`,
      );
    if (
      name === "CredentialsProviderError" ||
      /Could not load credentials/.test(String((err as Error)?.message))
    ) {
      return new StoreError(
        "NO_CREDENTIALS",
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run 'aws configure'",
      );
    }
    if (status === 403 || name === "AccessDenied") {
      return new StoreError(
        "ACCESS_DENIED",
        `access to s3://${this.bucket}${key ? `/${key}` : ""} was denied: check the credentials' permissions`,
      );
    }
    return err;
  }

  async region(): Promise<string | undefined> {
    // An emulator runs on this machine: its buckets are in a local region.
    if (this.emulated) return EMULATED_REGIONS.s3;
    const out = await this.call(() =>
      this.client.send(new GetBucketLocationCommand({ Bucket: this.bucket })),
    );
    return bucketRegion("aws", out.LocationConstraint);
  }

  async exists(): Promise<boolean> {
    try {
      await this.call(() => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
      return true;
    } catch (err) {
      if (err instanceof StoreError && err.code === "NO_SUCH_BUCKET") return false;
      throw err;
    }
  }

  /** Creates the bucket. */
  async create(region: string): Promise<void> {
    await this.call(() =>
      this.client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          ...(region !== "us-east-1"
            ? { CreateBucketConfiguration: { LocationConstraint: region as never } }
            : {}),
        }),
      ),
    );
  }

  async list(opts: ListOptions = {}): Promise<ListPage> {
    const r = await this.call(() =>
      this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: opts.prefix || undefined,
          Delimiter: opts.delimiter,
          MaxKeys: opts.maxKeys ?? 1000,
          ContinuationToken: opts.token,
        }),
      ),
    );
    return {
      objects: (r.Contents ?? []).map((o) => ({
        key: o.Key as string,
        size: o.Size ?? 0,
        lastModified: o.LastModified ?? new Date(0),
      })),
      prefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix as string),
      ...(r.IsTruncated && r.NextContinuationToken ? { nextToken: r.NextContinuationToken } : {}),
    };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return headOrMissing(
      async () => {
        const r = await this.call(
          () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })),
          key,
        );
        return {
          key,
          size: r.ContentLength ?? 0,
          lastModified: r.LastModified ?? new Date(0),
          checksum: r.Metadata?.[META],
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
    const r = await this.call(
      () =>
        this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}),
          }),
        ),
      key,
    );
    const bytes = Buffer.from(
      await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    return intoBuffer(bytes, into);
  }

  async put(key: string, data: WriteData, opts: WriteOptions = {}): Promise<ObjectInfo> {
    const body = Buffer.concat(pieces(data) as Buffer[]);
    const crc = opts.crc32 ?? crc32(body);
    await this.call(
      () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            Metadata: { [META]: formatCrc(crc) },
          }),
        ),
      key,
    );
    return { key, size: body.length, lastModified: new Date(), checksum: formatCrc(crc) };
  }

  async createMultipartUpload(key: string): Promise<string> {
    const r = await this.call(
      () => this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key })),
      key,
    );
    return r.UploadId as string;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    data: WriteData,
    opts: WriteOptions = {},
  ): Promise<UploadedPart> {
    const body = Buffer.concat(pieces(data) as Buffer[]);
    const r = await this.call(
      () =>
        this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: byteLength(data),
          }),
        ),
      key,
      uploadId,
    );
    void r;
    return { partNumber, checksum: formatCrc(opts.crc32 ?? crc32Of(pieces(data))) };
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<ObjectInfo> {
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    // S3 completes an upload by the parts' ETags, which the caller (the runner) never saw: list them.
    const etags = new Map<number, string>();
    let marker: string | undefined;
    do {
      const page = await this.call(
        () =>
          this.client.send(
            new ListPartsCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumberMarker: marker,
            }),
          ),
        key,
      );
      for (const p of page.Parts ?? []) etags.set(p.PartNumber as number, p.ETag as string);
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    const missing = sorted.filter((p) => !etags.has(p.partNumber));
    if (missing.length > 0) {
      throw new StoreError(
        "INVALID_PART",
        `part ${missing[0].partNumber} of ${key} was never uploaded`,
      );
    }
    await this.call(
      () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: {
              Parts: sorted.map((p) => ({
                PartNumber: p.partNumber,
                ETag: etags.get(p.partNumber),
              })),
            },
          }),
        ),
      key,
    );
    const checksum = compositeChecksum(sorted.map((p) => p.checksum));
    const info = await this.head(key);
    if (info && info.size <= MAX_COPY) {
      // Record the checksum: metadata can only be set by copying the object onto itself.
      await this.call(
        () =>
          this.client.send(
            new CopyObjectCommand({
              Bucket: this.bucket,
              Key: key,
              CopySource: `${this.bucket}/${encodeURIComponent(key).replace(/%2F/g, "/")}`,
              MetadataDirective: "REPLACE",
              Metadata: { [META]: checksum },
            }),
          ),
        key,
      );
    }
    return { key, size: info?.size ?? 0, lastModified: info?.lastModified ?? new Date(), checksum };
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.call(
      () =>
        this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
        ),
      key,
    );
  }

  async delete(key: string): Promise<void> {
    await this.call(
      () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
      key,
    );
  }
}
