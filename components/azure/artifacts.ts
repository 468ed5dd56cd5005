import * as authorization from "@pulumi/azure-native/authorization";
import * as storage from "@pulumi/azure-native/storage";
import * as pulumi from "@pulumi/pulumi";
import { bundleKey, GatewayBundleFile } from "../cloud";
import { artifactsAccountName, containerScope, ROLES, roleDefinitionId } from "./naming";

/** The container of the artifacts account that holds the gateway bundle. */
export const ARTIFACTS_CONTAINER = "skyplane-artifacts";

/** Arguments of a dataplane's artifacts storage on Azure. */
export interface AzureArtifactsArgs {
  /** The subscription. */
  subscriptionId: string;
  /** The dataplane's resource group: destroying the stack removes the account with it. */
  resourceGroupName: pulumi.Output<string>;
  /** Location of the account (the dataplane's first). */
  location: string;
  /** The gateway bundle to upload. */
  bundle: GatewayBundleFile;
  /** The gateways' identity's principal: the one reader of the bundle. */
  readerPrincipalId: pulumi.Input<string>;
  /** Tags. */
  tags: Record<string, string>;
}

/**
 * The stack's own storage account holding the gateway bundle in one container: no public blob access,
 * HTTPS and TLS 1.2 only, encrypted at rest (Microsoft-managed keys), tagged, in the dataplane's resource
 * group (deleting the account deletes its blobs, so `destroy` succeeds with the bundle in it). The
 * gateways' identity is granted Storage Blob Data Reader on that container, which holds the bundle alone.
 */
export class AzureArtifacts extends pulumi.ComponentResource {
  /** The storage account's name. */
  readonly account: pulumi.Output<string>;
  /** The container's name. */
  readonly container: pulumi.Output<string>;
  /** The bundle's blob name (known once the gateways may read it). */
  readonly blob: pulumi.Output<string>;

  constructor(name: string, args: AzureArtifactsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:azure:Artifacts", name, {}, opts);
    const account = new storage.StorageAccount(
      `${name}-account`,
      {
        resourceGroupName: args.resourceGroupName,
        // Account names are global across Azure: one per creation of the dataplane (naming.ts).
        accountName: args.resourceGroupName.apply((group) =>
          artifactsAccountName(args.subscriptionId, name, group),
        ),
        location: args.location,
        kind: "StorageV2",
        sku: { name: "Standard_LRS" },
        allowBlobPublicAccess: false,
        enableHttpsTrafficOnly: true,
        minimumTlsVersion: "TLS1_2",
        encryption: {
          keySource: "Microsoft.Storage",
          services: { blob: { enabled: true, keyType: "Account" } },
        },
        tags: args.tags,
      },
      { parent: this },
    );
    const container = new storage.BlobContainer(
      `${name}-container`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: account.name,
        containerName: ARTIFACTS_CONTAINER,
        publicAccess: "None",
      },
      { parent: this },
    );
    const read = new authorization.RoleAssignment(
      `${name}-read`,
      {
        principalId: args.readerPrincipalId,
        principalType: "ServicePrincipal",
        roleDefinitionId: roleDefinitionId(args.subscriptionId, ROLES.blobReader),
        scope: pulumi
          .all([account.id, container.name])
          .apply(([id, c]) => containerScope(id as string, c)),
      },
      { parent: this },
    );
    const blob = new storage.Blob(
      `${name}-bundle`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: account.name,
        containerName: container.name,
        blobName: bundleKey(args.bundle),
        source: new pulumi.asset.FileAsset(args.bundle.path),
        type: "Block",
        contentType: "application/gzip",
      },
      // After the grant: a gateway waits for the blob, and so boots only once it may read it.
      { parent: this, dependsOn: [read] },
    );
    this.account = account.name;
    this.container = container.name;
    this.blob = blob.name;
    this.registerOutputs({ account: this.account, container: this.container, blob: this.blob });
  }
}
