import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as devtestlab from "@pulumi/azure-native/devtestlab";
import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";
import type { SecretRef } from "../../gateway-image/boot";
import { CloudGateway, CloudGatewayArgs, gatewayBootScript } from "../cloud";
import { UBUNTU_IMAGE } from "./image";
import { autoShutdownTime, ROLES, roleDefinitionId } from "./naming";

/** Arguments of one Azure gateway VM (`address` is `publicIp`'s). */
export interface AzureGatewayArgs extends CloudGatewayArgs {
  /** Your own image (an image id); default the stock Ubuntu 24.04 LTS marketplace image (image.ts). */
  image?: pulumi.Input<string>;
  /** The subscription. */
  subscriptionId: string;
  /** The dataplane's resource group. */
  resourceGroupName: pulumi.Input<string>;
  /** Azure location. */
  location: string;
  /** Subnet id. */
  subnetId: pulumi.Input<string>;
  /** Security group id. */
  securityGroupId: pulumi.Input<string>;
  /** Its static public address resource. */
  publicIp: network.PublicIPAddress;
  /** The gateways' managed identity. */
  identityId: pulumi.Input<string>;
  /** The identity's principal id. */
  principalId: pulumi.Input<string>;
  /** Key Vault name of the dataplane's secret. */
  vault: pulumi.Input<string>;
  /** Secret name. */
  secret: pulumi.Input<string>;
  /** An SSH public key Azure requires for Linux VMs (SSH stays closed by the security group). */
  sshPublicKey: pulumi.Input<string>;
}

/** A gateway VM: cloud-init boot (user data), no SSH provisioning, deallocated by Azure and deleting itself at expiry. */
export class AzureGateway extends CloudGateway<AzureGatewayArgs> {
  constructor(name: string, args: AzureGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:azure:Gateway", name, args, opts);
  }

  protected override vm(name: string, args: AzureGatewayArgs): pulumi.Output<string> {
    const nic = new network.NetworkInterface(
      `${name}-nic`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        networkSecurityGroup: { id: args.securityGroupId },
        ipConfigurations: [
          {
            name: "primary",
            subnet: { id: args.subnetId },
            publicIPAddress: { id: args.publicIp.id },
          },
        ],
        tags: args.tags,
      },
      { parent: this },
    );
    const secrets = pulumi
      .all([args.vault, args.secret])
      .apply(([vault, secret]): SecretRef => ({ provider: "azure", vault, secret }));
    // Custom data is what cloud-init reads on Azure (from the provisioning media, at first boot).
    const customData = gatewayBootScript(args, secrets).apply((script) =>
      Buffer.from(script).toString("base64"),
    );
    const vm = new compute.VirtualMachine(
      `${name}-vm`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        hardwareProfile: { vmSize: args.vmClass },
        storageProfile: {
          imageReference: args.image ? { id: args.image } : UBUNTU_IMAGE,
          osDisk: { createOption: "FromImage", deleteOption: "Delete" },
        },
        networkProfile: {
          // The interface is the stack's (destroy removes it): a replacement VM takes it over.
          networkInterfaces: [{ id: nic.id, primary: true, deleteOption: "Detach" }],
        },
        osProfile: {
          computerName: name.slice(0, 15),
          adminUsername: "skyplane",
          customData,
          linuxConfiguration: {
            disablePasswordAuthentication: true,
            ssh: {
              publicKeys: [
                { path: "/home/skyplane/.ssh/authorized_keys", keyData: args.sshPublicKey },
              ],
            },
          },
        },
        identity: { type: "UserAssigned", userAssignedIdentities: [args.identityId] },
        tags: args.tags,
      },
      {
        parent: this,
        // cloud-init runs the boot script at first boot only: a new one (a new expiry) needs a new VM,
        // and the old one goes first, since the network interface belongs to one VM at a time.
        replaceOnChanges: ["osProfile.customData"],
        deleteBeforeReplace: true,
      },
    );
    // Azure's own deadline: the auto-shutdown schedule deallocates the VM (compute billing stops; its disk
    // and address stay, billed, until `pulumi destroy` or the self-delete). It recurs daily at the expiry's
    // time of day, so with a TTL of at most a day its first run is the expiry. Azure has no platform-side
    // delete of a VM at a time: the boot script's self-delete is what removes it.
    // https://learn.microsoft.com/azure/virtual-machines/auto-shutdown-vm
    new devtestlab.GlobalSchedule(
      `${name}-auto-shutdown`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        name: pulumi.interpolate`shutdown-computevm-${vm.name}`, // the name Azure looks it up by
        targetResourceId: vm.id,
        taskType: "ComputeVmShutdownTask",
        status: "Enabled",
        timeZoneId: "UTC",
        dailyRecurrence: { time: autoShutdownTime(args.expireAt) },
        tags: args.tags,
      },
      { parent: this },
    );
    // The gateway may delete exactly its own VM, at expiry.
    new authorization.RoleAssignment(
      `${name}-self-delete`,
      {
        principalId: args.principalId,
        principalType: "ServicePrincipal",
        roleDefinitionId: roleDefinitionId(args.subscriptionId, ROLES.vmContributor),
        scope: vm.id,
      },
      { parent: this },
    );
    return vm.id;
  }
}
