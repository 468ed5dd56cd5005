import * as authorization from "@pulumi/azure-native/authorization";
import * as keyvault from "@pulumi/azure-native/keyvault";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import { parseRegion } from "../../common/regions";
import {
  addressBook,
  boundProgram,
  CloudDataplaneArgs,
  cloudGateways,
  dataplaneDefaults,
  GatewayEndpoint,
  gatewayEndpoints,
} from "../cloud";
import { AzureGatewayFirewall } from "./firewall";
import { AzureGateway } from "./gateway";
import { AzureGatewayIdentity } from "./iam";
import { dataplaneTags, ROLES, roleDefinitionId, vaultName } from "./naming";
import { AzureRegionNetwork } from "./network";

/** Arguments of a dataplane on Azure. */
export interface AzureDataplaneArgs extends CloudDataplaneArgs {
  /** The subscription. */
  subscriptionId: string;
  /** The Entra tenant (for the Key Vault). */
  tenantId: string;
  /** VM image id with Docker, jq and the Azure CLI. */
  imageId: pulumi.Input<string>;
  /** The gateway container image. */
  containerImage: string;
  /** Storage account id holding the containers. */
  storageAccountId: string;
  /** Containers the gateways read. */
  readContainers: string[];
  /** Containers the gateways write. */
  writeContainers: string[];
  /** SSH public key Azure requires for Linux VMs (SSH stays closed unless sshCidr is given). */
  sshPublicKey: pulumi.Input<string>;
}

/** Every gateway of a topology as Azure VMs in one resource group, with networks, NSGs, identity and vault. */
export class AzureDataplane extends pulumi.ComponentResource {
  /** Where the runner reaches each gateway. */
  readonly gateways: pulumi.Output<GatewayEndpoint[]>;

  constructor(name: string, args: AzureDataplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:azure:Dataplane", name, {}, opts);
    const { topology } = args;
    const gateways = cloudGateways(topology, "azure", "Azure", this);
    const { route, controlPort, dataPort, ttlMinutes } = dataplaneDefaults(args);
    const location = (regionId: string) => parseRegion(regionId).name;
    const regions = [...new Set(gateways.map((g) => location(g.region)))].sort();
    const tags = dataplaneTags(route, name, args.expireAt);
    // One resource group holds everything: destroying the stack removes it whole.
    const group = new resources.ResourceGroup(
      `${name}-rg`,
      { location: regions[0], tags },
      { parent: this },
    );
    const rg = group.name;
    const ips = new Map(
      gateways.map((g) => [
        g.id,
        new network.PublicIPAddress(
          `${name}-${g.id}-ip`,
          {
            resourceGroupName: rg,
            location: location(g.region),
            publicIPAllocationMethod: "Static",
            sku: { name: "Standard" },
            tags,
          },
          { parent: this },
        ),
      ]),
    );
    const book = addressBook(
      new Map([...ips].map(([id, ip]) => [id, ip.ipAddress.apply((a) => a as string)])),
      args.remotePeers,
    );
    const identity = new AzureGatewayIdentity(
      `${name}-identity`,
      {
        subscriptionId: args.subscriptionId,
        resourceGroupName: rg,
        location: regions[0],
        storageAccountId: args.storageAccountId,
        readContainers: args.readContainers,
        writeContainers: args.writeContainers,
        tags,
      },
      { parent: this },
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
      { parent: this },
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
      { parent: this },
    );
    new authorization.RoleAssignment(
      `${name}-secret-access`,
      {
        principalId: identity.principalId,
        principalType: "ServicePrincipal",
        roleDefinitionId: roleDefinitionId(args.subscriptionId, ROLES.secretsUser),
        scope: secret.id,
      },
      { parent: this },
    );
    regions.forEach((loc, index) => {
      const net = new AzureRegionNetwork(
        `${name}-${loc}`,
        { resourceGroupName: rg, location: loc, index, tags },
        { parent: this },
      );
      const nsg = new AzureGatewayFirewall(
        `${name}-${loc}`,
        {
          resourceGroupName: rg,
          location: loc,
          peerIps: book.peerIps,
          clientCidr: args.clientCidr,
          dataPort,
          controlPort,
          sshCidr: args.sshCidr,
          tags,
        },
        { parent: this },
      );
      for (const spec of gateways.filter((g) => location(g.region) === loc)) {
        new AzureGateway(
          `${name}-${spec.id}`,
          {
            subscriptionId: args.subscriptionId,
            resourceGroupName: rg,
            location: loc,
            program: boundProgram(spec, book.peers, dataPort),
            vmSize: spec.vmClass,
            imageId: args.imageId,
            containerImage: args.containerImage,
            subnetId: net.subnetId,
            securityGroupId: nsg.id,
            publicIp: ips.get(spec.id) as network.PublicIPAddress,
            identityId: identity.id,
            principalId: identity.principalId,
            vault: vault.name,
            secret: secret.name,
            sshPublicKey: args.sshPublicKey,
            controlPort,
            dataPort,
            expireAt: args.expireAt,
            ttlMinutes,
            tags,
          },
          { parent: this },
        );
      }
    });
    this.gateways = gatewayEndpoints(gateways, book.own, controlPort, dataPort);
    this.registerOutputs({ gateways: this.gateways });
  }
}
