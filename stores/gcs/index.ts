import { Bucket, Storage } from "@google-cloud/storage";
import { bucketExists, checksumMismatch, cloudFeatures, creationRegion, joined } from "../common";
import { b64hex, Hashes, hexb64 } from "../hashes";
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

/*
 * Google Cloud Storage. Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
 * `gcloud auth application-default login`, the metadata server); STORAGE_EMULATOR_HOST points at an
 * emulator. A multipart upload is parts uploaded as hidden objects and composed (GCS's own way to join
 * objects, 32 at a time), so it appears only when completed.
 *
 * Integrity: every upload carries the CRC-32C and MD5 of its bytes in the object resource, which GCS
 * checks before it stores the object (400 otherwise); the store reports the crc32c and md5Hash GCS
 * computed. A composed object has only a crc32c, GCS's CRC-32C of the whole object, which a caller
 * predicts by combining its parts' CRC-32Cs. fake-gcs-server computes and returns both as GCS does.
 */

/** Hidden objects of uploads in progress: `<key>.skyplane-part-<upload id>-<part>` (part 0 marks the upload). */
const PART = ".skyplane-part-";
const COMPOSE_MAX = 32;

/** Classifies GCS errors for the retry helper. */
export function gcsVerdict(err: unknown): Verdict {
  const e = err as { code?: unknown; response?: { headers?: Record<string, string> } };
  if (typeof e.code !== "number") return { retry: isTransientNetworkError(err) };
  return httpVerdict(e.code, e.response?.headers?.["retry-after"]);
}

/** The hashes GCS computed of an object (its resource's crc32c and md5Hash, base64). */
export function gcsHashes(m: { crc32c?: string; md5Hash?: string }): Hashes {
  const out: Hashes = {};
  const crc = b64hex(m.crc32c);
  const md5 = b64hex(m.md5Hash);
  if (crc) out.crc32c = crc;
  if (md5) out.md5 = md5;
  return out;
}

/** A GCS bucket. */
export class GcsStore extends StagedMultipartStore implements ObjectStore {
  override readonly scheme = "gs";
  // Parts are composed 32 at a time, so any count works: S3's limits keep the same plan as S3. Objects
  // are at most 5 TiB, as on S3 (https://cloud.google.com/storage/quotas#objects).
  override readonly features: StoreFeatures = cloudFeatures({
    hashes: ["crc32c", "md5"],
    multipartHash: "combined",
  });
  private readonly b: Bucket;
  private readonly storage: Storage;
  /** True when the store is an emulator. */
  readonly emulated: boolean;

  constructor(
    override readonly bucket: string,
    settings: { apiEndpoint?: string; projectId?: string; keyFilename?: string } = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
    super();
    const apiEndpoint = settings.apiEndpoint ?? env.STORAGE_EMULATOR_HOST;
    this.emulated = apiEndpoint !== undefined;
    // The Node client takes STORAGE_EMULATOR_HOST from process.env as its whole base URL (…/storage/v1),
    // where every other client, and the emulators, mean http://host:port. Give it the endpoint as
    // apiEndpoint instead, with the variable hidden while it is built (it reads it only then).
    const saved = process.env.STORAGE_EMULATOR_HOST;
    delete process.env.STORAGE_EMULATOR_HOST;
    try {
      this.storage = new Storage({
        ...(apiEndpoint ? { apiEndpoint } : {}),
        projectId:
          settings.projectId ??
          env.GOOGLE_CLOUD_PROJECT ??
          (apiEndpoint ? "skyplane-emulator" : undefined),
        // A key file in the given environment (a client's GCPConfig) applies even if the process has another.
        ...((settings.keyFilename ?? env.GOOGLE_APPLICATION_CREDENTIALS)
          ? { keyFilename: settings.keyFilename ?? env.GOOGLE_APPLICATION_CREDENTIALS }
          : {}),
        retryOptions: { autoRetry: false }, // withRetries is the one retry policy
      });
    } finally {
      if (saved !== undefined) process.env.STORAGE_EMULATOR_HOST = saved;
    }
    this.b = this.storage.bucket(bucket);
  }

  protected override verdict(err: unknown): Verdict {
    return gcsVerdict(err);
  }

  protected override explain(err: unknown, key?: string): unknown {
    const code = (err as { code?: unknown }).code;
    const message = String((err as Error)?.message ?? "");
    if (code === 400 && key !== undefined && /crc32c|md5/i.test(message))
      return checksumMismatch(key, `GCS refused the bytes as sent: ${message}`);
    if (code === 409 && key === undefined) return bucketExists(this);
    if (code === 404 && (key === undefined || /bucket/i.test(message))) {
      return new StoreError(
        "NO_SUCH_BUCKET",
        `bucket gs://${this.bucket} does not exist: create it with 'skyplane mb gs://${this.bucket} --region gcp:<region>'`,
      );
    }
    if (code === 404)
      return new StoreError("NO_SUCH_KEY", `no object ${key} in gs://${this.bucket}`);
    if (code === 401 || code === 403) {
      return new StoreError(
        "ACCESS_DENIED",
        `access to gs://${this.bucket} was denied: check the credentials (GOOGLE_APPLICATION_CREDENTIALS) and their roles`,
      );
    }
    if (/Could not load the default credentials/.test(message)) {
      return new StoreError(
        "NO_CREDENTIALS",
        "no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS or run 'gcloud auth application-default login'",
      );
    }
    return err;
  }

  async region(): Promise<string | undefined> {
    // An emulator runs on this machine: its buckets are in a local region.
    if (this.emulated) return EMULATED_REGIONS.gs;
    const [metadata] = await this.call(() => this.b.getMetadata());
    return locationRegion("gcp", metadata.location);
  }

  override async exists(): Promise<boolean> {
    const [exists] = await this.call(() => this.b.exists());
    return exists;
  }

  /**
   * Makes the bucket in the region of `region` (a GCS location is a region, `US-CENTRAL1`, or a
   * multi-region, `US`; never a zone).
   */
  async createBucket(region: string): Promise<void> {
    const location = creationRegion(this, region).region.toUpperCase();
    await this.call(() => this.storage.createBucket(this.bucket, { location }));
  }

  async list(opts: ListOptions = {}): Promise<ListPage> {
    await this.mustExist();
    const [files, next, response] = await this.call(() =>
      this.b.getFiles({
        prefix: opts.prefix || undefined,
        delimiter: opts.delimiter,
        maxResults: opts.maxKeys ?? 1000,
        pageToken: opts.token,
        autoPaginate: false,
      }),
    );
    const prefixes = ((response as { prefixes?: string[] } | undefined)?.prefixes ?? []).filter(
      (p) => !p.includes(PART),
    );
    return {
      objects: files
        .filter((f) => !f.name.includes(PART))
        .map((f) => ({
          key: f.name,
          size: Number(f.metadata.size ?? 0),
          lastModified: new Date(f.metadata.updated ?? 0),
          hashes: gcsHashes(f.metadata),
        })),
      prefixes,
      ...((next as { pageToken?: string } | null)?.pageToken
        ? { nextToken: (next as { pageToken: string }).pageToken }
        : {}),
    };
  }

  protected override async headObject(key: string): Promise<ObjectInfo> {
    const [m] = await this.call(() => this.b.file(key).getMetadata(), key);
    return {
      key,
      size: Number(m.size ?? 0),
      lastModified: new Date(m.updated ?? 0),
      hashes: gcsHashes(m),
    };
  }

  protected override async read(
    key: string,
    range?: { offset: number; length: number },
  ): Promise<Buffer> {
    const [bytes] = await this.call(
      () =>
        this.b
          .file(key)
          .download(
            range
              ? { start: range.offset, end: range.offset + range.length - 1, validation: false }
              : {},
          ),
      key,
    ).catch((err) => this.missingBucket(err));
    return bytes;
  }

  protected override async write(key: string, data: WriteData, sent: Hashes): Promise<Hashes> {
    return this.save(key, key, joined(data), sent).catch((err) => this.missingBucket(err));
  }

  /**
   * Throws `err`, or NO_SUCH_BUCKET when it is a missing key and the bucket is what is missing: GCS's
   * 404s do not tell the two apart, so the bucket is looked up only then, not before every call.
   */
  private async missingBucket(err: unknown): Promise<never> {
    if (err instanceof StoreError && err.code === "NO_SUCH_KEY") await this.mustExist();
    throw err;
  }

  /** Uploads `body` as `name` with its CRC-32C and MD5 for GCS to check; returns GCS's hashes. */
  private async save(name: string, key: string, body: Buffer, sent: Hashes): Promise<Hashes> {
    const file = this.b.file(name);
    await this.call(
      () =>
        file.save(body, {
          resumable: false,
          validation: false,
          metadata: { crc32c: hexb64(sent.crc32c as string), md5Hash: hexb64(sent.md5 as string) },
        }),
      key,
    );
    return gcsHashes(file.metadata);
  }

  /** Throws NO_SUCH_BUCKET unless the bucket exists (GCS's 404s do not tell a bucket from a key). */
  private async mustExist(): Promise<void> {
    if (!(await this.exists())) throw this.explain({ code: 404 });
  }

  private partName(key: string, uploadId: string, n: number): string {
    return `${key}${PART}${uploadId}-${String(n).padStart(5, "0")}`;
  }

  protected override async openUpload(key: string, uploadId: string): Promise<void> {
    await this.mustExist();
    const empty = Buffer.alloc(0);
    const sent = await this.hashesToSend(empty, {});
    await this.save(this.partName(key, uploadId, 0), key, empty, sent); // part 0 marks the upload
  }

  protected override async isOpen(key: string, uploadId: string): Promise<boolean> {
    const [open] = await this.call(
      () => this.b.file(this.partName(key, uploadId, 0)).exists(),
      key,
    );
    return open;
  }

  protected override stagePart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Buffer,
    sent: Hashes,
  ): Promise<Hashes> {
    return this.save(this.partName(key, uploadId, partNumber), key, body, sent);
  }

  protected override async stagedParts(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
  ): Promise<ReadonlySet<number>> {
    const staged = new Set<number>();
    for (const p of parts) {
      const [there] = await this.call(
        () => this.b.file(this.partName(key, uploadId, p.partNumber)).exists(),
        key,
      );
      if (there) staged.add(p.partNumber);
    }
    return staged;
  }

  protected override async joinParts(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
  ): Promise<void> {
    const partNames = parts.map((p) => this.partName(key, uploadId, p.partNumber));
    // Compose joins at most 32 objects: join in rounds, each round into hidden intermediate objects.
    let sources = partNames;
    const temporary: string[] = [];
    let round = 0;
    while (sources.length > COMPOSE_MAX) {
      const next: string[] = [];
      for (let i = 0; i < sources.length; i += COMPOSE_MAX) {
        const target = `${key}${PART}${uploadId}-r${round}-${i}`;
        const group = sources.slice(i, i + COMPOSE_MAX);
        await this.call(() => this.b.combine(group, target), key);
        next.push(target);
        temporary.push(target);
      }
      sources = next;
      round++;
    }
    await this.call(() => this.b.combine(sources, key), key);
    await this.cleanUp(key, uploadId, [...partNames, ...temporary]);
  }

  protected override async dropUpload(key: string, uploadId: string): Promise<void> {
    const [files] = await this.call(
      () => this.b.getFiles({ prefix: `${key}${PART}${uploadId}-` }),
      key,
    );
    await this.cleanUp(
      key,
      uploadId,
      files.map((f) => f.name),
    );
  }

  /** Deletes `names` and the upload's marker. */
  private async cleanUp(key: string, uploadId: string, names: string[]): Promise<void> {
    for (const n of [...names, this.partName(key, uploadId, 0)]) {
      await this.call(() => this.b.file(n).delete({ ignoreNotFound: true }), n);
    }
  }

  async delete(key: string): Promise<void> {
    await this.mustExist();
    await this.call(() => this.b.file(key).delete({ ignoreNotFound: true }), key);
  }
}
