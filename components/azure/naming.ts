/*
 * Pure helpers of the Azure dataplane: tags, address plans and the built-in roles it grants, each on the
 * narrowest scope (a container, a secret, one VM).
 */

/** Tags every resource of a dataplane carries. */
export function dataplaneTags(
  route: string,
  dataplane: string,
  expireAt: number,
): Record<string, string> {
  return {
    skyplane: "gateway",
    "skyplane-route": route,
    "skyplane-dataplane": dataplane,
    "skyplane-expires": new Date(expireAt).toISOString(),
  };
}

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
