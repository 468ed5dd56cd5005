import * as authorization from "@pulumi/azure-native/authorization";
import * as keyvault from "@pulumi/azure-native/keyvault";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import type { ArtifactRef } from "../../gateway-image/boot";
import { parseRegion } from "../../common/regions";
import {
  BootBundle,
  CloudDataplane,
  CloudDataplaneArgs,
  CloudParts,
  nodeSource,
  SharedArtifacts,
} from "../cloud";
import { skyplaneTags } from "../naming";
import { AzureArtifacts } from "./artifacts";
import { AzureGatewayFirewall } from "./firewall";
import { AzureGateway } from "./gateway";
import { AzureGatewayIdentity } from "./iam";
import { ROLES, roleDefinitionId, vaultName } from "./naming";
import { AzureRegionNetwork } from "./network";

/** Arguments of a dataplane on Azure (its buckets are the storage account's containers). */
export interface AzureDataplaneArgs extends CloudDataplaneArgs {
  /** The subscription. */
  subscriptionId: string;
  /** The Entra tenant (for the Key Vault). */
  tenantId: string;
  /**
   * Your own gateway VM image (an image id). Default: Canonical's Ubuntu 24.04 LTS marketplace image,
   * its newest version.
   */
  image?: pulumi.Input<string>;
  /** The Node binary on your own image (e.g. /usr/bin/node). Default: the pinned Node runtime, fetched at boot. */
  node?: string;
  /** Storage account id holding the containers the gateways read and write (needed when there are any). */
  storageAccountId?: string;
  /** SSH public key Azure requires for Linux VMs (SSH stays closed unless sshCidr is given). */
  sshPublicKey: pulumi.Input<string>;
}

/** Every gateway of a topology as Azure VMs in one resource group, with networks, NSGs, identity and vault. */
export class AzureDataplane extends CloudDataplane {
  constructor(name: string, args: AzureDataplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:azure:Dataplane", name, args, azureParts(args), opts);
  }
}

/** The resource group that holds everything: destroying the stack removes it whole. */
interface AzureGroup {
  readonly rg: pulumi.Output<string>;
}

/**
 * What every Azure gateway shares: the group, one identity, the vault and secret of the token and key,
 * and the artifacts account.
 */
interface AzureShared extends AzureGroup, SharedArtifacts {
  readonly identity: AzureGatewayIdentity;
  readonly vault: keyvault.Vault;
  readonly secret: keyvault.Secret;
}

/** A location's network and security group. */
interface AzureRegion {
  readonly net: AzureRegionNetwork;
  readonly nsg: AzureGatewayFirewall;
}

/** What is Azure's own in a dataplane: a resource group, a Key Vault, a network per location. */
function azureParts(
  args: AzureDataplaneArgs,
): CloudParts<AzureGroup, network.PublicIPAddress, AzureShared, AzureRegion> {
  const location = (regionId: string) => parseRegion(regionId).name;
  return {
    provider: "azure",
    label: "Azure",
    regionOf: location,
    tags: (route, dataplane, expireAt) => skyplaneTags("-", route, dataplane, expireAt),
    prepare({ name, parent, regions, tags }) {
      if (args.node && !args.image)
        throw new pulumi.InputPropertyError({
          propertyPath: "image",
          reason: `node ${args.node} is a Node on your own image: give the image, or leave node unset to boot the stock image`,
        });
      const group = new resources.ResourceGroup(
        `${name}-rg`,
        { location: regions[0], tags },
        { parent },
      );
      return { rg: group.name };
    },
    address({ name, parent, tags }, { rg }, g) {
      const ip = new network.PublicIPAddress(
        `${name}-${g.id}-ip`,
        {
          resourceGroupName: rg,
          location: location(g.region),
          publicIPAllocationMethod: "Static",
          sku: { name: "Standard" },
          tags,
        },
        { parent },
      );
      return { ref: ip, ip: ip.ipAddress.apply((a) => a as string) };
    },
    shared({ name, parent, regions, tags }, { rg }, _firewall, bundle) {
      const identity = new AzureGatewayIdentity(
        `${name}-identity`,
        {
          subscriptionId: args.subscriptionId,
          resourceGroupName: rg,
          location: regions[0],
          storageAccountId: args.storageAccountId,
          readContainers: args.readBuckets,
          writeContainers: args.writeBuckets,
          tags,
        },
        { parent },
      );
      // Vault names are global across Azure and outlive a destroy (soft-delete cannot be turned off):
      // the name hashes the resource group's, which is new at every creation (naming.ts).
      const vault = new keyvault.Vault(
        `${name}-kv`,
        {
          resourceGroupName: rg,
          vaultName: rg.apply((group) => vaultName(args.subscriptionId, name, group)),
          location: regions[0],
          properties: {
            tenantId: args.tenantId,
            sku: { family: "A", name: "standard" },
            enableRbacAuthorization: true,
            // Purge protection stays off, so an operator may purge a deleted vault at once; its soft-deleted
            // copy (with the dataplane's token and key) lingers the shortest time Azure allows.
            softDeleteRetentionInDays: 7,
          },
          tags,
        },
        { parent },
      );
      const secret = new keyvault.Secret(
        `${name}-secret`,
        {
          resourceGroupName: rg,
          vaultName: vault.name,
          secretName: "skyplane-dataplane",
          properties: {
            value: pulumi.secret(pulumi.jsonStringify({ token: args.token, key: args.key })),
          },
        },
        { parent },
      );
      new authorization.RoleAssignment(
        `${name}-secret-access`,
        {
          principalId: identity.principalId,
          principalType: "ServicePrincipal",
          roleDefinitionId: roleDefinitionId(args.subscriptionId, ROLES.secretsUser),
          scope: secret.id,
        },
        { parent },
      );
      const artifacts = new AzureArtifacts(
        `${name}-artifacts`,
        {
          subscriptionId: args.subscriptionId,
          resourceGroupName: rg,
          location: regions[0],
          bundle,
          readerPrincipalId: identity.principalId,
          tags,
        },
        { parent },
      );
      const bundleRef = pulumi
        .all([artifacts.account, artifacts.container, artifacts.blob])
        .apply(([account, container, blob]): BootBundle => ({
          artifact: { provider: "azure", account, container, blob } satisfies ArtifactRef,
          sha256: bundle.sha256,
        }));
      return { rg, identity, vault, secret, bundle: bundleRef };
    },
    region({ name, parent, tags }, { rg }, loc, index, rules) {
      const net = new AzureRegionNetwork(
        `${name}-${loc}`,
        { resourceGroupName: rg, location: loc, index, tags },
        { parent },
      );
      const nsg = new AzureGatewayFirewall(
        `${name}-${loc}`,
        { ...rules, resourceGroupName: rg, location: loc, tags },
        { parent },
      );
      return { net, nsg };
    },
    gateway(name, spec, common, { site, shared, net, ip }) {
      new AzureGateway(
        name,
        {
          ...common,
          subscriptionId: args.subscriptionId,
          resourceGroupName: shared.rg,
          location: location(spec.region),
          image: args.image,
          node: nodeSource(args.nodeRuntime, args.image ? args.node : undefined),
          subnetId: net.net.subnetId,
          securityGroupId: net.nsg.securityGroupId,
          publicIp: ip,
          identityId: shared.identity.id,
          principalId: shared.identity.principalId,
          vault: shared.vault.name,
          secret: shared.secret.name,
          sshPublicKey: args.sshPublicKey,
        },
        { parent: site.parent },
      );
    },
  };
}
