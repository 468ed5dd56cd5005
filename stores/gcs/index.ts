import * as crypto from "node:crypto";
import { Bucket, Storage } from "@google-cloud/storage";
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
 * Google Cloud Storage. Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
 * `gcloud auth application-default login`, the metadata server); STORAGE_EMULATOR_HOST points at an
 * emulator. A multipart upload is parts uploaded as hidden objects and composed (GCS's own way to join
 * objects, 32 at a time), so it appears only when completed. Skyplane records each object's CRC-32 as
 * the metadata `skyplane-crc32`.
 */

const META = "skyplane-crc32";
/** Hidden objects of uploads in progress: `<key>.skyplane-part-<upload id>-<part>` (part 0 marks the upload). */
const PART = ".skyplane-part-";
const COMPOSE_MAX = 32;

/** Classifies GCS errors for the retry helper. */
export function gcsVerdict(err: unknown): Verdict {
  const e = err as { code?: unknown; response?: { headers?: Record<string, string> } };
  if (typeof e.code !== "number") return { retry: isTransientNetworkError(err) };
  return httpVerdict(e.code, e.response?.headers?.["retry-after"]);
}

/** A GCS bucket. */
export class GcsStore implements ObjectStore {
  readonly scheme = "gs";
  readonly features: StoreFeatures = {
    multipart: true,
    serverSideCopy: true,
    maxPartBytes: 5 * 1024 ** 3,
  };
  private readonly b: Bucket;
  private readonly storage: Storage;
  /** True when the store is an emulator. */
  readonly emulated: boolean;

  constructor(
    readonly bucket: string,
    settings: { apiEndpoint?: string; projectId?: string; keyFilename?: string } = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
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

  private call<T>(fn: () => Promise<T>, key?: string): Promise<T> {
    return withRetries(fn, gcsVerdict).catch((err) => {
      throw this.explain(err, key);
    });
  }

  private explain(err: unknown, key?: string): unknown {
    const code = (err as { code?: unknown }).code;
    const message = String((err as Error)?.message ?? "");
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
    return bucketRegion("gcp", metadata.location);
  }

  async exists(): Promise<boolean> {
    const [exists] = await this.call(() => this.b.exists());
    return exists;
  }

  /** Creates the bucket. */
  async create(location: string): Promise<void> {
    await this.call(() => this.storage.createBucket(this.bucket, { location }));
  }

  async list(opts: ListOptions = {}): Promise<ListPage> {
    if (!(await this.exists())) throw this.explain({ code: 404 });
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
        })),
      prefixes,
      ...((next as { pageToken?: string } | null)?.pageToken
        ? { nextToken: (next as { pageToken: string }).pageToken }
        : {}),
    };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return headOrMissing(
      async () => {
        const [m] = await this.call(() => this.b.file(key).getMetadata(), key);
        return {
          key,
          size: Number(m.size ?? 0),
          lastModified: new Date(m.updated ?? 0),
          checksum: (m.metadata as Record<string, string> | undefined)?.[META],
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
    if (!(await this.exists())) throw this.explain({ code: 404 });
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
    );
    return intoBuffer(bytes, into);
  }

  private async save(name: string, body: Buffer, crc: number): Promise<void> {
    await this.call(
      () =>
        this.b.file(name).save(body, {
          resumable: false,
          validation: false,
          metadata: { metadata: { [META]: formatCrc(crc) } },
        }),
      name,
    );
  }

  async put(key: string, data: WriteData, opts: WriteOptions = {}): Promise<ObjectInfo> {
    if (!(await this.exists())) throw this.explain({ code: 404 });
    const body = Buffer.concat(pieces(data) as Buffer[]);
    const crc = opts.crc32 ?? crc32(body);
    await this.save(key, body, crc);
    return { key, size: body.length, lastModified: new Date(), checksum: formatCrc(crc) };
  }

  private partName(key: string, uploadId: string, n: number): string {
    return `${key}${PART}${uploadId}-${String(n).padStart(5, "0")}`;
  }

  async createMultipartUpload(key: string): Promise<string> {
    if (!(await this.exists())) throw this.explain({ code: 404 });
    const id = crypto.randomBytes(12).toString("hex");
    await this.save(this.partName(key, id, 0), Buffer.alloc(0), 0); // marks the upload as open
    return id;
  }

  private async mustBeOpen(key: string, uploadId: string): Promise<void> {
    const [open] = await this.call(
      () => this.b.file(this.partName(key, uploadId, 0)).exists(),
      key,
    );
    if (!open)
      throw new StoreError(
        "NO_SUCH_UPLOAD",
        `no multipart upload ${uploadId} of ${key} in gs://${this.bucket}`,
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
    const crc = opts.crc32 ?? crc32Of(pieces(data));
    await this.save(this.partName(key, uploadId, partNumber), body, crc);
    return { partNumber, checksum: formatCrc(crc) };
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<ObjectInfo> {
    await this.mustBeOpen(key, uploadId);
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    let sources = sorted.map((p) => this.partName(key, uploadId, p.partNumber));
    for (const s of sources) {
      const [there] = await this.call(() => this.b.file(s).exists(), key);
      if (!there)
        throw new StoreError(
          "INVALID_PART",
          `part ${Number(s.slice(-5))} of ${key} was never uploaded`,
        );
    }
    // Compose joins at most 32 objects: join in rounds, each round into hidden intermediate objects.
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
    const checksum = compositeChecksum(sorted.map((p) => p.checksum));
    await this.call(() => this.b.combine(sources, key), key);
    await this.call(() => this.b.file(key).setMetadata({ metadata: { [META]: checksum } }), key);
    await this.cleanUp(key, uploadId, [
      ...sorted.map((p) => this.partName(key, uploadId, p.partNumber)),
      ...temporary,
    ]);
    const info = await this.head(key);
    return { key, size: info?.size ?? 0, lastModified: info?.lastModified ?? new Date(), checksum };
  }

  private async cleanUp(key: string, uploadId: string, names: string[]): Promise<void> {
    for (const n of [...names, this.partName(key, uploadId, 0)]) {
      await this.call(() => this.b.file(n).delete({ ignoreNotFound: true }), n);
    }
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.mustBeOpen(key, uploadId);
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

  async delete(key: string): Promise<void> {
    if (!(await this.exists())) throw this.explain({ code: 404 });
    await this.call(() => this.b.file(key).delete({ ignoreNotFound: true }), key);
  }
}
