import { skyplaneTags } from "../naming";

/*
 * Pure helpers of the GCP dataplane: labels, address plans and the exact permissions of its roles.
 */

/**
 * GCP labels every resource of a dataplane carries: the skyplane tags with GCP's key rules (no colon;
 * lowercase values of at most 63 characters), the expiry in epoch seconds.
 */
export function dataplaneLabels(
  route: string,
  dataplane: string,
  expireAt: number,
): Record<string, string> {
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, "-")
      .slice(0, 63);
  return skyplaneTags("-", clean(route), clean(dataplane), String(Math.floor(expireAt / 1000)));
}

/** What reading a source bucket takes. */
export const READ_PERMISSIONS = ["storage.objects.get", "storage.objects.list"];
/** What writing a destination bucket takes: objects, and composing and deleting the parts of uploads. */
export const WRITE_PERMISSIONS = [
  "storage.objects.create",
  "storage.objects.delete",
  "storage.objects.get",
  "storage.objects.list",
];
/** What a gateway needs to end itself at expiry (granted on its own instance only). */
export const SELF_DELETE_PERMISSIONS = ["compute.instances.delete"];

/** An expiry (epoch ms) as the RFC 3339 time Compute Engine takes, rounded up to the second. */
export function terminationTime(expireAt: number): string {
  return new Date(Math.ceil(expireAt / 1000) * 1000).toISOString().replace(/\.000Z$/, "Z");
}

/**
 * The IAM condition (CEL) that admits only the objects under `prefix` of `bucket`: Cloud Storage names an
 * object `projects/_/buckets/BUCKET/objects/NAME` in conditions.
 * https://cloud.google.com/storage/docs/access-control/iam#conditions
 */
export function bundleReadCondition(bucket: string, prefix: string): string {
  return `resource.name.startsWith(${JSON.stringify(`projects/_/buckets/${bucket}/objects/${prefix}`)})`;
}
