import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
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
import {
  bucketExists,
  checksumMismatch,
  cloudFeatures,
  creationRegion,
  CloudStore,
  joined,
  mustHaveParts,
  partsInOrder,
} from "../common";
import { b64hex, Hashes, hexb64, PartHash } from "../hashes";
import { DirectPut } from "./direct";
import { newS3Client } from "./sdk-warning";
import { httpVerdict, isTransientNetworkError, Verdict } from "../retry";
import {
  EMULATED_REGIONS,
  ListOptions,
  ListPage,
  ObjectInfo,
  ObjectStore,
  StoreError,
  StoreFeatures,
  byteLength,
  pieces,
  UploadedPart,
  WriteData,
  WriteOptions,
} from "../types";
import { locationRegion } from "../../common/regions";

/*
 * Amazon S3 and S3-compatible endpoints (MinIO, R2, Wasabi, emulators). Credentials and endpoint come
 * from the AWS SDK's standard chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared
 * files, SSO, instance roles; AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for another endpoint (path-style).
 *
 * Integrity: every PutObject and UploadPart carries Content-MD5 and x-amz-checksum-crc32c of the bytes,
 * which S3 checks before it stores anything (BadDigest otherwise); uploads are created with
 * ChecksumAlgorithm CRC32C, so S3 keeps a COMPOSITE CRC-32C of a multipart object, read back with
 * ChecksumMode ENABLED. The store reports what the service computed: the ETag as an MD5 (single PUT) or
 * MD5 of the parts' MD5s (multipart) where it has that form, and the CRC-32C S3 returns. gofakes3, the
 * emulator the tests use, neither checks Content-MD5 nor the CRC-32C, nor returns a CRC-32C: there the
 * ETag, which it computes from the bytes it stored, is what proves them (and what `features.hashes`
 * asks callers to predict on a custom endpoint).
 */

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

/** S3's refusal of a write whose bytes did not match the Content-MD5 or x-amz-checksum-* it came with. */
function isDigestRefusal(err: unknown): boolean {
  const name = (err as Error)?.name ?? "";
  return ["BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "InvalidChecksum"].includes(
    name,
  );
}

/**
 * The hashes S3 reports: the ETag where it is an MD5 ("hex", single PUT) or an MD5 of part MD5s
 * ("hex-N", multipart), and x-amz-checksum-crc32c (base64, "-N" for a COMPOSITE multipart checksum).
 * An ETag of another form (SSE-KMS, say) is no hash of the bytes and is left out.
 */
export function s3Hashes(etag?: string, crc32c?: string): Hashes {
  const out: Hashes = {};
  const e = etag?.replace(/"/g, "").toLowerCase();
  if (e && /^[0-9a-f]{32}$/.test(e)) out.md5 = e;
  else if (e && /^[0-9a-f]{32}-\d+$/.test(e)) out["md5-parts"] = e;
  if (crc32c) {
    const [value, parts] = crc32c.split("-");
    if (parts) out["crc32c-parts"] = `${b64hex(value)}-${parts}`;
    else out.crc32c = b64hex(value);
  }
  return out;
}

/** Objects up to this size are PUT directly (`direct.ts`); larger ones by the SDK's command. */
const DIRECT_PUT_BYTES = 1024 * 1024;
/** Bodies over this size are streamed to the SDK (see `S3Store.payload`). */
const STREAMED_BODY_BYTES = DIRECT_PUT_BYTES;

/** An S3 bucket. */
export class S3Store extends CloudStore implements ObjectStore {
  override readonly scheme = "s3";
  override readonly features: StoreFeatures = cloudFeatures({
    hashes: ["md5", "crc32c"],
    multipartHash: "parts",
  });
  private readonly client: S3Client;
  /** The custom endpoint, if any. */
  private readonly endpoint?: string;
  /** The direct path of small PUTs, opened on first use (undefined: the SDK's command serves all). */
  private direct?: Promise<DirectPut | undefined>;

  constructor(
    override readonly bucket: string,
    settings: S3Settings = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
    super();
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
    this.endpoint = endpoint;
    this.client = newS3Client({
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
    // A custom endpoint may keep a CRC-32C without checking it (gofakes3 v1.2.0 echoes whatever was
    // sent): there only the ETag, an MD5 the server computed, counts, so callers predict only MD5s.
    if (this.emulated) this.features = { ...this.features, hashes: ["md5"] };
  }

  /** Both hashes go with every write, even to a custom endpoint that reports only the ETag. */
  protected override get sentHashes(): readonly PartHash[] {
    return ["md5", "crc32c"];
  }

  /** The hashes a response reports: on a custom endpoint, the ETag alone (see the constructor). */
  private reported(etag?: string, crc32c?: string): Hashes {
    return s3Hashes(etag, this.emulated ? undefined : crc32c);
  }

  /** True when the store is a custom endpoint (an emulator or another S3-compatible service). */
  readonly emulated: boolean;

  protected override verdict(err: unknown): Verdict {
    return s3Verdict(err);
  }

  protected override explain(err: unknown, key?: string, uploadId?: string): unknown {
    const name = (err as Error)?.name ?? "";
    const status = (err as S3ServiceException).$metadata?.httpStatusCode;
    if (isDigestRefusal(err) && key !== undefined)
      return checksumMismatch(
        key,
        `S3 refused the bytes as sent (${name}): they did not match their checksum`,
      );
    if (uploadId && (name === "NoSuchUpload" || status === 404)) {
      return new StoreError(
        "NO_SUCH_UPLOAD",
        `no multipart upload ${uploadId} of ${key} in s3://${this.bucket}`,
      );
    }
    if (name === "BucketAlreadyExists" || name === "BucketAlreadyOwnedByYou")
      return bucketExists(this);
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
    return locationRegion("aws", out.LocationConstraint);
  }

  override async exists(): Promise<boolean> {
    try {
      await this.call(() => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
      return true;
    } catch (err) {
      if (err instanceof StoreError && err.code === "NO_SUCH_BUCKET") return false;
      throw err;
    }
  }

  async createBucket(region: string): Promise<void> {
    const { name } = creationRegion(this, region);
    await this.call(() =>
      this.client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          ...(name !== "us-east-1"
            ? { CreateBucketConfiguration: { LocationConstraint: name as never } }
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
        hashes: this.reported(o.ETag),
      })),
      prefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix as string),
      ...(r.IsTruncated && r.NextContinuationToken ? { nextToken: r.NextContinuationToken } : {}),
    };
  }

  protected override async headObject(key: string): Promise<ObjectInfo> {
    const r = await this.call(
      () =>
        this.client.send(
          new HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: "ENABLED" }),
        ),
      key,
    );
    return {
      key,
      size: r.ContentLength ?? 0,
      lastModified: r.LastModified ?? new Date(0),
      hashes: this.reported(r.ETag, r.ChecksumCRC32C),
    };
  }

  protected override read(
    key: string,
    range?: { offset: number; length: number },
  ): Promise<Buffer> {
    return this.get(key, range);
  }

  /**
   * The body is copied as it arrives into one buffer of its Content-Length (`into` when that is large
   * enough), each piece handed to `onRead` there, while it is in the cache: no list of the socket's
   * pieces joined at the end (the SDK's `transformToByteArray` copies every byte twice more).
   */
  override async get(
    key: string,
    range?: { offset: number; length: number },
    into?: Buffer,
    onRead?: (piece: Buffer) => void,
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
    const length = r.ContentLength ?? 0;
    const out =
      into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let at = 0;
    let over = false;
    for await (const piece of r.Body as AsyncIterable<Buffer>) {
      if (at + piece.length > length) {
        over = true;
        (r.Body as Readable).destroy();
        break;
      }
      piece.copy(out, at);
      onRead?.(out.subarray(at, at + piece.length));
      at += piece.length;
    }
    if (over || at !== length)
      throw new StoreError(
        "TRANSFER_FAILED",
        `s3://${this.bucket}/${key}: the answer's body ${over ? "ran past" : `ended after ${at} of`} the ${length} bytes its Content-Length said; run the copy again`,
      );
    return out;
  }

  /**
   * The request fields of a body and the hashes S3 checks it against; made anew for every attempt (a
   * stream is read once). A body over STREAMED_BODY_BYTES goes as a stream of its pieces: the SDK signs a
   * Buffer body's SHA-256 (1.2 s of CPU per GiB) and the pieces would first be copied into one buffer,
   * while a streamed body is signed as UNSIGNED-PAYLOAD and its integrity rests on the Content-MD5 and
   * CRC-32C headers, which are signed and which S3 checks against the bytes it receives.
   */
  private static payload(data: WriteData, sent: Hashes) {
    const length = byteLength(data);
    return {
      Body:
        length > STREAMED_BODY_BYTES
          ? Readable.from(pieces(data), { objectMode: false })
          : joined(data),
      ContentLength: length,
      ContentMD5: hexb64(sent.md5 as string),
      ChecksumCRC32C: hexb64(sent.crc32c as string),
    };
  }

  protected override async write(key: string, data: WriteData, sent: Hashes): Promise<Hashes> {
    // Small objects go directly, unless the bucket needs the SDK's own signing (see direct.ts).
    const direct =
      byteLength(data) <= DIRECT_PUT_BYTES
        ? await (this.direct ??= DirectPut.open(this.client, this.bucket, this.endpoint).catch(
            () => undefined,
          ))
        : undefined;
    if (direct) {
      const r = await this.call(
        () =>
          direct.put(key, joined(data), hexb64(sent.md5 as string), hexb64(sent.crc32c as string)),
        key,
      );
      return this.reported(r.etag, r.crc32c);
    }
    const r = await this.call(
      () =>
        this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, ...S3Store.payload(data, sent) }),
        ),
      key,
    );
    return this.reported(r.ETag, r.ChecksumCRC32C);
  }

  async createMultipartUpload(key: string): Promise<string> {
    const r = await this.call(
      () =>
        this.client.send(
          new CreateMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            ChecksumAlgorithm: "CRC32C",
          }),
        ),
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
    const sent = await this.hashesToSend(data, opts);
    const r = await this.call(
      () =>
        this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            ...S3Store.payload(data, sent),
          }),
        ),
      key,
      uploadId,
    );
    return { partNumber, hashes: this.reported(r.ETag, r.ChecksumCRC32C) };
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<ObjectInfo> {
    const sorted = partsInOrder(parts);
    // S3 completes an upload by the parts' ETags, which the caller (the runner) never saw: list them.
    const listed = new Map<number, { etag: string; crc32c?: string }>();
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
      for (const p of page.Parts ?? [])
        listed.set(p.PartNumber as number, { etag: p.ETag as string, crc32c: p.ChecksumCRC32C });
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    mustHaveParts(key, sorted, (n) => listed.has(n));
    // S3 completes by the parts' ETags and CRC-32Cs as it listed them; it then reports the COMPOSITE
    // CRC-32C and the multipart ETag it computed, which the caller checks against its own parts.
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
                ETag: listed.get(p.partNumber)?.etag,
                ...(listed.get(p.partNumber)?.crc32c
                  ? { ChecksumCRC32C: listed.get(p.partNumber)?.crc32c }
                  : {}),
              })),
            },
          }),
        ),
      key,
    );
    return this.completed(key);
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
