import { createHash } from "node:crypto";

/*
 * Pure helpers of the Azure dataplane: names and the built-in roles it grants, each on the narrowest
 * scope (a container, a secret, one VM).
 */

/**
 * Built-in role definitions (learn.microsoft.com/azure/role-based-access-control/built-in-roles):
 * reading and writing blobs, reading one Key Vault secret, and managing (here: deleting) one VM.
 */
export const ROLES = {
  blobReader: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", // Storage Blob Data Reader
  blobContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe", // Storage Blob Data Contributor
  secretsUser: "4633458b-17de-408a-b874-0445c86b69e6", // Key Vault Secrets User
  vmContributor: "9980e02c-c2be-4d73-94e8-173b1dc7cf3c", // Virtual Machine Contributor
} as const;

/** The full id of a built-in role in a subscription. */
export function roleDefinitionId(subscriptionId: string, role: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${role}`;
}

/** The scope of one blob container. */
export function containerScope(storageAccountId: string, container: string): string {
  return `${storageAccountId}/blobServices/default/containers/${container}`;
}

/**
 * The expiry's time of day as an auto-shutdown schedule takes it (`HHmm`, UTC), rounded up to the minute
 * so that the shutdown never comes before the expiry.
 */
export function autoShutdownTime(expireAt: number): string {
  const iso = new Date(Math.ceil(expireAt / 60_000) * 60_000).toISOString();
  return iso.slice(11, 13) + iso.slice(14, 16);
}

/**
 * A Key Vault name (3 to 24 letters and digits, global across Azure) for one creation of a dataplane:
 * its name, then a hash of subscription, dataplane and resource group. The group's name carries the
 * engine's random suffix, drawn afresh at each creation, so a vault still held by soft-delete after a
 * destroy (for its retention, 7 days here) never blocks the next provision of the same route.
 */
export function vaultName(
  subscriptionId: string,
  dataplane: string,
  resourceGroup: string,
): string {
  const prefix = `sp${dataplane.toLowerCase().replace(/[^a-z0-9]/g, "")}`.slice(0, 14);
  const hash = createHash("sha256")
    .update(`${subscriptionId}/${dataplane}/${resourceGroup}`)
    .digest("hex");
  return prefix + hash.slice(0, 10);
}

/**
 * The name of a dataplane's artifacts storage account (3 to 24 lowercase letters and digits, global
 * across Azure), for one creation of it: like the vault's, a hash of subscription, name and resource group
 * (whose name is new at every creation).
 */
export function artifactsAccountName(
  subscriptionId: string,
  name: string,
  resourceGroup: string,
): string {
  const prefix = `sa${name.toLowerCase().replace(/[^a-z0-9]/g, "")}`.slice(0, 14);
  const hash = createHash("sha256")
    .update(`${subscriptionId}/${name}/${resourceGroup}`)
    .digest("hex");
  return prefix + hash.slice(0, 10);
}
