import { parseRegion, RegionId } from "../common/regions";
import { schemeProvider } from "../common/schemes";
import { Hashes, hashParts, PartHash } from "./hashes";
import { Verdict, withRetries } from "./retry";
import {
  byteLength,
  ObjectInfo,
  pieces,
  StoreError,
  StoreFeatures,
  UploadedPart,
  WriteData,
  WriteOptions,
} from "./types";

/*
 * What the adapters share: the same answers to the same questions, whatever the SDK. `CloudStore` is
 * the part of every cloud adapter that is not its SDK: one retry policy around each call, `head` of a
 * missing key, `hashes` from `head`, the empty range, the hashes a write sends, and what a completed
 * upload reports. Each adapter supplies the calls (`headObject`, `read`, `write`, …) and how its
 * SDK's errors read (`verdict`, `explain`).
 */

/**
 * S3's multipart limits, which GCS (composing parts) and the local store take too, so that one plan of
 * part sizes fits all three. https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
 */
export const S3_PART_LIMITS = { maxPartBytes: 5 * 1024 ** 3, maxParts: 10_000 } as const;

/**
 * The features of a cloud store: multipart uploads and server-side copies, S3's limits (5 TiB objects)
 * unless `own` says otherwise, and the hashes it checks and reports.
 */
export function cloudFeatures(
  own: Pick<StoreFeatures, "hashes" | "multipartHash"> & Partial<StoreFeatures>,
): StoreFeatures {
  return {
    multipart: true,
    serverSideCopy: true,
    ...S3_PART_LIMITS,
    maxObjectBytes: 5 * 1024 ** 4,
    ...own,
  };
}

/** The error of a write whose bytes the service refused, or reported other hashes of, than were sent. */
export function checksumMismatch(key: string, detail: string): StoreError {
  return new StoreError("CHECKSUM_MISMATCH", `verification failed for ${key}: ${detail}`);
}

/** `bytes`, copied into `into` when it is given and large enough (callers reuse their buffers). */
export function intoBuffer(bytes: Buffer, into?: Buffer): Buffer {
  if (!into || into.length < bytes.length) return bytes;
  bytes.copy(into);
  return into.subarray(0, bytes.length);
}

/** The bytes of a write as one buffer (what the SDKs take). */
export function joined(data: WriteData): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.concat(pieces(data) as Buffer[]);
}

/** The parts of an upload in part-number order, as completion joins them. */
export function partsInOrder(parts: readonly UploadedPart[]): UploadedPart[] {
  return [...parts].sort((a, b) => a.partNumber - b.partNumber);
}

/** Throws INVALID_PART naming the first of `parts` the store does not hold. */
export function mustHaveParts(
  key: string,
  parts: readonly UploadedPart[],
  held: (partNumber: number) => boolean,
): void {
  const missing = parts.find((p) => !held(p.partNumber));
  if (missing)
    throw new StoreError("INVALID_PART", `part ${missing.partNumber} of ${key} was never uploaded`);
}

/**
 * The region a bucket of `store` is made in, taken apart: `region` must be a region id of the provider
 * whose buckets the store's scheme names (StoreError BAD_REGION).
 */
export function creationRegion(
  store: { scheme: string; bucket: string },
  region: string,
): RegionId {
  const provider = schemeProvider(store.scheme);
  const parsed = parseRegion(region);
  if (parsed.provider !== provider)
    throw new StoreError(
      "BAD_REGION",
      `${store.scheme}://${store.bucket} needs a ${provider} region (${provider}:…), not ${region}`,
    );
  return parsed;
}

/** The error of a bucket that exists already (buckets are named across all of a cloud, but Azure's). */
export function bucketExists(store: { scheme: string; bucket: string }): StoreError {
  return new StoreError(
    "CONFLICT",
    `${store.scheme}://${store.bucket} exists already: use it, or make a bucket of another name`,
  );
}

/**
 * A bucket of a cloud's object store, behind its SDK: what every cloud adapter does the same way. An
 * adapter extends it and implements ObjectStore.
 */
export abstract class CloudStore {
  /** URI scheme. */
  abstract readonly scheme: string;
  /** The bucket. */
  abstract readonly bucket: string;
  /** What the store can do. */
  abstract readonly features: StoreFeatures;

  /** The hashes every write sends for the service to check (the caller's, else computed here). */
  protected get sentHashes(): readonly PartHash[] {
    return this.features.hashes;
  }

  /** True when the bucket exists. */
  abstract exists(): Promise<boolean>;
  /** Classifies one of the SDK's errors for the retry helper. */
  protected abstract verdict(err: unknown): Verdict;
  /** The StoreError an SDK error means (about `key` or `uploadId` when given), or the error itself. */
  protected abstract explain(err: unknown, key?: string, uploadId?: string): unknown;
  /** The object's info; fails (NO_SUCH_KEY, NO_SUCH_BUCKET) when there is none. */
  protected abstract headObject(key: string): Promise<ObjectInfo>;
  /** The object's bytes, or `range.length` of them (fewer at its end) from `range.offset`; never empty ranges. */
  protected abstract read(key: string, range?: { offset: number; length: number }): Promise<Buffer>;
  /** Writes `data` as `key`, sending `sent` (the `sentHashes`) for the service to check; returns its hashes. */
  protected abstract write(key: string, data: WriteData, sent: Hashes): Promise<Hashes>;

  /** Runs one call to the service under the one retry policy; its failure comes out explained. */
  protected call<T>(fn: () => Promise<T>, key?: string, uploadId?: string): Promise<T> {
    return withRetries(fn, (err) => this.verdict(err)).catch((err) => {
      throw this.explain(err, key, uploadId);
    });
  }

  /**
   * Undefined for a key that is not there. Some servers answer a missing key in an existing bucket with
   * the same bare 404 as a missing bucket, hence the `exists` check.
   */
  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      return await this.headObject(key);
    } catch (err) {
      if (err instanceof StoreError && err.code === "NO_SUCH_KEY") return undefined;
      if (err instanceof StoreError && err.code === "NO_SUCH_BUCKET" && (await this.exists()))
        return undefined;
      throw err;
    }
  }

  /** What the service reports (`head`), never read from the bytes. */
  async hashes(key: string): Promise<Hashes | undefined> {
    return (await this.head(key))?.hashes;
  }

  async get(
    key: string,
    range?: { offset: number; length: number },
    into?: Buffer,
    onRead?: (piece: Buffer) => void,
  ): Promise<Buffer> {
    if (range && range.length === 0) return Buffer.alloc(0);
    const data = intoBuffer(await this.read(key, range), into);
    if (data.length > 0) onRead?.(data);
    return data;
  }

  async put(key: string, data: WriteData, opts: WriteOptions = {}): Promise<ObjectInfo> {
    const hashes = await this.write(key, data, await this.hashesToSend(data, opts));
    return { key, size: byteLength(data), lastModified: new Date(), hashes };
  }

  /** The `sentHashes` of a write: the caller's where it gave them, the others computed here. */
  protected async hashesToSend(data: WriteData, opts: WriteOptions): Promise<Hashes> {
    const given = opts.hashes ?? {};
    const missing = this.sentHashes.filter((h) => !given[h]);
    if (missing.length === 0) return given;
    return { ...(await hashParts(missing, pieces(data))), ...given };
  }

  /** What a completed upload reports: the object as the service now has it. */
  protected async completed(key: string): Promise<ObjectInfo> {
    const info = await this.head(key);
    return {
      key,
      size: info?.size ?? 0,
      lastModified: info?.lastModified ?? new Date(),
      hashes: info?.hashes ?? {},
    };
  }
}
