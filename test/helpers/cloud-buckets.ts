import { SkyplaneClient, SkyplaneClientOptions } from "../../runner";
import {
  LocalStore,
  localBucketRoot,
  ObjectStore,
  openStore,
  StoreContext,
  StoreUri,
} from "../../stores";

/*
 * Cloud buckets without a cloud: a client whose s3:// and gs:// buckets are local bucket folders that
 * report a cloud region, so that a copy between them plans a cloud route (aws → gcp) and goes on to
 * provision it, every step as the client runs it for real buckets. Nothing reaches a cloud's storage.
 */
export class CloudBucketsClient extends SkyplaneClient {
  constructor(
    options: SkyplaneClientOptions,
    /** The region each scheme's buckets report, e.g. { s3: "aws:us-east-1", gs: "gcp:us-central1" }. */
    private readonly regions: Readonly<Record<string, string>>,
  ) {
    super(options);
  }

  /** Makes the folder of `bucket` (of any scheme) with `objects` in it. */
  async makeBucket(bucket: string, objects: Record<string, string> = {}): Promise<void> {
    const root = localBucketRoot({ home: this.home }, bucket);
    const store = await LocalStore.createBucket(bucket, root, "local:east");
    for (const [key, text] of Object.entries(objects)) await store.put(key, Buffer.from(text));
  }

  protected override openStore(uri: StoreUri, ctx: StoreContext): ObjectStore {
    const region = this.regions[uri.scheme];
    if (!region) return super.openStore(uri, ctx);
    const folder = openStore({ scheme: "local", bucket: uri.bucket, key: uri.key }, ctx);
    return new Proxy(folder, {
      get(target, prop, receiver) {
        if (prop === "region") return () => Promise.resolve(region);
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
  }
}
