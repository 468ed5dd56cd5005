import * as authorization from "@pulumi/azure-native/authorization";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as pulumi from "@pulumi/pulumi";
import { containerScope, ROLES, roleDefinitionId } from "./naming";

/** Arguments of the gateways' identity. */
export interface AzureGatewayIdentityArgs {
  /** The subscription. */
  subscriptionId: string;
  /** The dataplane's resource group. */
  resourceGroupName: pulumi.Input<string>;
  /** Location of the identity. */
  location: string;
  /** Storage account id of the containers (needed when there are any). */
  storageAccountId?: string;
  /** Containers the gateways read. */
  readContainers: string[];
  /** Containers the gateways write. */
  writeContainers: string[];
  /** Tags. */
  tags: Record<string, string>;
}

/** A user-assigned managed identity, granted blob roles on exactly this dataplane's containers. */
export class AzureGatewayIdentity extends pulumi.ComponentResource {
  /** The identity's resource id. */
  readonly id: pulumi.Output<string>;
  /** Its principal id (what roles are assigned to). */
  readonly principalId: pulumi.Output<string>;

  constructor(
    name: string,
    args: AzureGatewayIdentityArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("skyplane:azure:GatewayIdentity", name, {}, opts);
    const identity = new managedidentity.UserAssignedIdentity(
      `${name}-id`,
      { resourceGroupName: args.resourceGroupName, location: args.location, tags: args.tags },
      { parent: this },
    );
    this.id = identity.id.apply((id) => id as string);
    this.principalId = identity.principalId;
    const account = args.storageAccountId;
    if (!account && args.readContainers.length + args.writeContainers.length > 0)
      throw new pulumi.InputPropertyError({
        propertyPath: "storageAccountId",
        reason: `the gateways read or write containers ${[...args.readContainers, ...args.writeContainers].join(", ")}: give the id of their storage account`,
      });
    const grant = (container: string, role: string, kind: string) =>
      new authorization.RoleAssignment(
        `${name}-${kind}-${container}`,
        {
          principalId: identity.principalId,
          principalType: "ServicePrincipal",
          roleDefinitionId: roleDefinitionId(args.subscriptionId, role),
          scope: containerScope(account as string, container),
        },
        { parent: this },
      );
    for (const c of args.readContainers) grant(c, ROLES.blobReader, "read");
    for (const c of args.writeContainers) grant(c, ROLES.blobContributor, "write");
    this.registerOutputs({ id: this.id, principalId: this.principalId });
  }
}
