import * as crypto from "node:crypto";
import { CloudStore, joined, mustHaveParts, partsInOrder } from "./common";
import type { Hashes } from "./hashes";
import { ObjectInfo, StoreError, UploadedPart, WriteData, WriteOptions } from "./types";

/*
 * Multipart uploads on a service whose own way to build an object from pieces has another shape (GCS
 * composes objects, Azure commits a block list). The same on both: an upload has a random id; it is
 * open while a hidden marker object exists, so that parts sent after an abort or a completion are
 * refused (NO_SUCH_UPLOAD); parts are staged under the upload; completion checks that every part is
 * there, joins them in part order, and removes the marker and whatever the upload staged. The object
 * appears only when completed. Each adapter supplies how to mark, stage, join and drop.
 */

/** A cloud store whose multipart uploads are staged parts joined at completion. */
export abstract class StagedMultipartStore extends CloudStore {
  /** Marks an upload as open (writes its marker); fails NO_SUCH_BUCKET without a bucket. */
  protected abstract openUpload(key: string, uploadId: string): Promise<void>;
  /** True while the upload's marker exists. */
  protected abstract isOpen(key: string, uploadId: string): Promise<boolean>;
  /** Stages one part, sending `sent` for the service to check; returns the hashes the service holds. */
  protected abstract stagePart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Buffer,
    sent: Hashes,
  ): Promise<Hashes>;
  /** The part numbers among `parts` that the upload has staged. */
  protected abstract stagedParts(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
  ): Promise<ReadonlySet<number>>;
  /** Joins `parts` (in order, every one staged) into `key`, then drops the upload's marker and parts. */
  protected abstract joinParts(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
  ): Promise<void>;
  /** Drops an upload: its marker and whatever parts it staged. */
  protected abstract dropUpload(key: string, uploadId: string): Promise<void>;

  async createMultipartUpload(key: string): Promise<string> {
    const id = crypto.randomBytes(12).toString("hex");
    await this.openUpload(key, id);
    return id;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    data: WriteData,
    opts: WriteOptions = {},
  ): Promise<UploadedPart> {
    await this.mustBeOpen(key, uploadId);
    const sent = await this.hashesToSend(data, opts);
    return {
      partNumber,
      hashes: await this.stagePart(key, uploadId, partNumber, joined(data), sent),
    };
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<ObjectInfo> {
    await this.mustBeOpen(key, uploadId);
    const sorted = partsInOrder(parts);
    const staged = await this.stagedParts(key, uploadId, sorted);
    mustHaveParts(key, sorted, (n) => staged.has(n));
    await this.joinParts(key, uploadId, sorted);
    return this.completed(key);
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.mustBeOpen(key, uploadId);
    await this.dropUpload(key, uploadId);
  }

  private async mustBeOpen(key: string, uploadId: string): Promise<void> {
    if (!(await this.isOpen(key, uploadId)))
      throw new StoreError(
        "NO_SUCH_UPLOAD",
        `no multipart upload ${uploadId} of ${key} in ${this.scheme}://${this.bucket}`,
      );
  }
}
