import * as crypto from "node:crypto";
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

/**
 * The short id of a stack's GCP dataplane in the names GCP makes unique per project (the service account,
 * the secret) and in its roles: the stack's name, cleaned and cut, and a hash of project, stack and
 * component, so that two routes' stacks in one GCP project never share an account, a secret or a role.
 * Lowercase letters and digits, starting with a letter, at most 20 characters.
 */
export function dataplaneId(project: string, stack: string, component: string): string {
  const readable = stack
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "")
    .slice(0, 10);
  const hash = crypto
    .createHash("sha256")
    .update(`${project}\0${stack}\0${component}`)
    .digest("hex")
    .slice(0, 8);
  return `d${readable}${hash}`.slice(0, 20);
}

/**
 * A custom role's id: the dataplane's id, the role's kind and the unique id of the service account it is
 * made for. GCP keeps a deleted role's id for 37 days (7 soft-deleted, then 30 being purged) and refuses a
 * new role with it, so ids are never reused: an account made again (a route torn down and brought up)
 * has a new unique id. At most 64 characters of letters, digits and underscores.
 */
export function customRoleId(id: string, kind: string, accountUniqueId: string): string {
  return `skyplane_${id}_${kind}_${accountUniqueId}`.slice(0, 64);
}
