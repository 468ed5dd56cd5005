import * as aws from "@pulumi/aws";
import * as s3 from "@pulumi/aws/s3";
import * as pulumi from "@pulumi/pulumi";
import { bundleKey, bundlePrefix, GatewayBundleFile } from "../cloud";

/** Arguments of a dataplane's artifacts bucket on AWS. */
export interface AwsArtifactsArgs {
  /** The gateway bundle to upload. */
  bundle: GatewayBundleFile;
  /** Tags of the bucket and the object. */
  tags: Record<string, string>;
  /** The provider of the bucket's region. */
  provider: aws.Provider;
}

/**
 * The stack's own S3 bucket holding the gateway bundle: private (public access blocked, ACLs off),
 * encrypted at rest, tagged, and emptied and deleted with the stack (`forceDestroy`). The bundle is an
 * object under a prefix named by its sha256; the gateways' role is granted GetObject on that prefix alone
 * (iam.ts), and nothing else reads the bucket.
 */
export class AwsArtifacts extends pulumi.ComponentResource {
  /** The bucket's name. */
  readonly bucket: pulumi.Output<string>;
  /** The bundle's key. */
  readonly key: pulumi.Output<string>;
  /** The ARN pattern of the objects the gateways may read: the bundle's prefix, `/*`. */
  readonly readArn: pulumi.Output<string>;

  constructor(name: string, args: AwsArtifactsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:aws:Artifacts", name, {}, opts);
    const child = { parent: this, provider: args.provider };
    const bucket = new s3.Bucket(
      `${name}-bucket`,
      { bucketPrefix: "skyplane-artifacts-", forceDestroy: true, tags: args.tags },
      child,
    );
    const guards = [
      new s3.BucketPublicAccessBlock(
        `${name}-public-access`,
        {
          bucket: bucket.id,
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
        child,
      ),
      new s3.BucketOwnershipControls(
        `${name}-ownership`,
        { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
        child,
      ),
      new s3.BucketServerSideEncryptionConfiguration(
        `${name}-encryption`,
        {
          bucket: bucket.id,
          rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
        },
        child,
      ),
    ];
    const object = new s3.BucketObjectv2(
      `${name}-bundle`,
      {
        bucket: bucket.id,
        key: bundleKey(args.bundle),
        source: new pulumi.asset.FileAsset(args.bundle.path),
        contentType: "application/gzip",
        serverSideEncryption: "AES256",
        tags: args.tags,
      },
      // Uploaded once the bucket is private, so that it is never readable by anyone else.
      { ...child, dependsOn: guards },
    );
    this.bucket = bucket.bucket;
    this.key = object.key;
    this.readArn = pulumi.interpolate`${bucket.arn}/${bundlePrefix(args.bundle)}*`;
    this.registerOutputs({ bucket: this.bucket, key: this.key, readArn: this.readArn });
  }
}
