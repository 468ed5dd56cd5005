import * as storage from "@pulumi/gcp/storage";
import * as pulumi from "@pulumi/pulumi";
import { bundleKey, bundlePrefix, GatewayBundleFile } from "../cloud";
import { bundleReadCondition } from "./naming";

/** Arguments of a dataplane's artifacts bucket on GCP. */
export interface GcpArtifactsArgs {
  /** The project. */
  project: pulumi.Input<string>;
  /** The bucket's location, e.g. us-central1 (the region of the dataplane's first gateway). */
  location: string;
  /** The gateway bundle to upload. */
  bundle: GatewayBundleFile;
  /** The gateways' service account, as an IAM member: the one reader of the bundle. */
  reader: pulumi.Input<string>;
  /** Labels of the bucket and the object. */
  labels: Record<string, string>;
}

/**
 * The stack's own Cloud Storage bucket holding the gateway bundle: uniform bucket-level access (no object
 * ACLs), public access prevention enforced, encrypted at rest (as every Cloud Storage object), labelled,
 * and emptied and deleted with the stack (`forceDestroy`). The gateways' service account is its one
 * reader: Storage Object Viewer under an IAM condition that admits only object names under the bundle's
 * prefix. That role's list permission applies to the bucket, whose name the condition never matches, so
 * what the account can do is get the bundle's objects; and the bucket holds nothing else.
 */
export class GcpArtifacts extends pulumi.ComponentResource {
  /** The bucket's name. */
  readonly bucket: pulumi.Output<string>;
  /** The bundle's object name. */
  readonly object: pulumi.Output<string>;

  constructor(name: string, args: GcpArtifactsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:gcp:Artifacts", name, {}, opts);
    const bucket = new storage.Bucket(
      `${name}-bucket`,
      {
        project: args.project,
        location: args.location,
        uniformBucketLevelAccess: true,
        publicAccessPrevention: "enforced",
        forceDestroy: true,
        labels: args.labels,
      },
      { parent: this },
    );
    const read = new storage.BucketIAMMember(
      `${name}-read`,
      {
        bucket: bucket.name,
        role: "roles/storage.objectViewer",
        member: args.reader,
        condition: {
          title: "skyplane-gateway-bundle",
          description: "the gateway bundle's prefix only",
          expression: bucket.name.apply((b) => bundleReadCondition(b, bundlePrefix(args.bundle))),
        },
      },
      { parent: this },
    );
    const object = new storage.BucketObject(
      `${name}-bundle`,
      {
        bucket: bucket.name,
        name: bundleKey(args.bundle),
        source: new pulumi.asset.FileAsset(args.bundle.path),
        contentType: "application/gzip",
      },
      // After the grant: a gateway waits for the object, and so boots only once it may read it.
      { parent: this, dependsOn: [read] },
    );
    this.bucket = bucket.name;
    this.object = object.name;
    this.registerOutputs({ bucket: this.bucket, object: this.object });
  }
}
