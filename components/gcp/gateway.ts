import * as compute from "@pulumi/gcp/compute";
import * as pulumi from "@pulumi/pulumi";
import type { SecretRef } from "../../gateway-image/boot";
import { CloudGateway, CloudGatewayArgs, gatewayBootScript } from "../cloud";
import { terminationTime } from "./naming";

/** Arguments of one GCP gateway VM (`tags` become its labels). */
export interface GcpGatewayArgs extends CloudGatewayArgs {
  /** Its boot image. */
  image: pulumi.Input<string>;
  /**
   * Whether `image` is the stock image looked up at `up`: a newer one published later then leaves a
   * running gateway as it is (a warm stack is not replaced); only a new VM boots it. Default false.
   */
  stockImage?: boolean;
  /** The project. */
  project: pulumi.Input<string>;
  /** Zone, e.g. us-central1-a. */
  zone: string;
  /** Subnet. */
  subnet: pulumi.Input<string>;
  /** Network tag the firewall targets. */
  tag: string;
  /** The gateways' service account. */
  serviceAccount: pulumi.Input<string>;
  /** The dataplane's secret (id). */
  secret: pulumi.Input<string>;
  /** The self-delete role (granted on this instance only). */
  selfDeleteRole: pulumi.Input<string>;
  /** The account as an IAM member. */
  member: pulumi.Input<string>;
}

/** A gateway VM: cloud-init boot, no SSH provisioning, deleted at expiry by Compute Engine and, failing that, by itself. */
export class GcpGateway extends CloudGateway<GcpGatewayArgs> {
  constructor(name: string, args: GcpGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:gcp:Gateway", name, args, opts);
  }

  protected override vm(name: string, args: GcpGatewayArgs): pulumi.Output<string> {
    const secrets = pulumi
      .all([args.project, args.secret])
      .apply(([project, secret]): SecretRef => ({ provider: "gcp", secret, project }));
    const vm = new compute.Instance(
      `${name}-vm`,
      {
        project: args.project,
        zone: args.zone,
        machineType: args.vmClass,
        bootDisk: { initializeParams: { image: args.image } },
        networkInterfaces: [{ subnetwork: args.subnet, accessConfigs: [{ natIp: args.address }] }],
        metadata: { "user-data": gatewayBootScript(args, secrets) },
        serviceAccount: { email: args.serviceAccount, scopes: ["cloud-platform"] },
        tags: [args.tag],
        labels: args.tags,
        // Compute Engine's own deadline: it deletes the VM at its expiry even if the VM's self-delete
        // never runs (a hung guest, a broken image). The boot script's timer is the second line.
        // https://cloud.google.com/compute/docs/instances/limit-vm-runtime
        scheduling: {
          terminationTime: terminationTime(args.expireAt),
          instanceTerminationAction: "DELETE",
        },
      },
      {
        parent: this,
        // cloud-init runs the boot script at first boot only: a new one (a new expiry) needs a new VM,
        // and the old one goes first, since the static address belongs to one VM at a time.
        replaceOnChanges: ["metadata"],
        deleteBeforeReplace: true,
        ignoreChanges: args.stockImage ? ["bootDisk.initializeParams.image"] : [],
      },
    );
    new compute.InstanceIAMMember(
      `${name}-self-delete`,
      {
        project: args.project,
        zone: args.zone,
        instanceName: vm.name,
        role: args.selfDeleteRole,
        member: args.member,
      },
      { parent: this },
    );
    return vm.id;
  }
}
