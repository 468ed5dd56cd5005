/*
 * Pure helpers of the AWS dataplane: its IAM policies, tested without mocks.
 */

/** A bucket's ARNs: the bucket itself (for List) and its objects. */
function bucketArns(bucket: string): { bucket: string; objects: string } {
  return { bucket: `arn:aws:s3:::${bucket}`, objects: `arn:aws:s3:::${bucket}/*` };
}

/**
 * The gateways' IAM policy: exactly what this dataplane's buckets need, reading its own secrets, and
 * reading the gateway bundle (`bundleArns`: the bundle's prefix in the artifacts bucket, `…/prefix/*`).
 * Reading: list and get; writing: put and the multipart calls. Nothing is granted on `*`.
 */
export function gatewayPolicy(
  read: readonly string[],
  write: readonly string[],
  secretArns: readonly string[],
  bundleArns: readonly string[] = [],
): string {
  const statements: Array<{ Sid: string; Effect: "Allow"; Action: string[]; Resource: string[] }> =
    [];
  if (read.length) {
    statements.push({
      Sid: "ListSource",
      Effect: "Allow",
      Action: ["s3:ListBucket"],
      Resource: read.map((b) => bucketArns(b).bucket),
    });
    statements.push({
      Sid: "ReadSource",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: read.map((b) => bucketArns(b).objects),
    });
  }
  if (write.length) {
    statements.push({
      Sid: "ListDestination",
      Effect: "Allow",
      Action: ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
      Resource: write.map((b) => bucketArns(b).bucket),
    });
    statements.push({
      Sid: "WriteDestination",
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      Resource: write.map((b) => bucketArns(b).objects),
    });
  }
  if (bundleArns.length)
    statements.push({
      Sid: "ReadGatewayBundle",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: [...bundleArns],
    });
  statements.push({
    Sid: "ReadDataplaneSecret",
    Effect: "Allow",
    Action: ["secretsmanager:GetSecretValue"],
    Resource: [...secretArns],
  });
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

/** A role's trust policy that lets exactly one AWS service (e.g. `ec2.amazonaws.com`) assume it. */
export function assumeRolePolicy(service: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
  });
}
