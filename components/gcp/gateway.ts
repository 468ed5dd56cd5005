import * as compute from "@pulumi/gcp/compute";
import * as pulumi from "@pulumi/pulumi";
import { renderBootScript } from "../../gateway-image/boot";
import type { GatewayProgram } from "../../planner/program";
import { terminationTime } from "./naming";

/** Arguments of one GCP gateway VM. */
export interface GcpGatewayArgs {
  /** The project. */
  project: pulumi.Input<string>;
  /** Zone, e.g. us-central1-a. */
  zone: string;
  /** Its program, send targets bound to peers' addresses. */
  program: pulumi.Input<GatewayProgram>;
  /** VM class, e.g. n2-standard-32. */
  machineType: string;
  /** Image with Docker, jq and gcloud. */
  image: pulumi.Input<string>;
  /** The gateway container image. */
  containerImage: string;
  /** Subnet. */
  subnet: pulumi.Input<string>;
  /** Its static external address. */
  address: pulumi.Input<string>;
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
  /** Ports. */
  controlPort: number;
  /** Data port. */
  dataPort: number;
  /** Epoch ms of expiry. */
  expireAt: number;
  /** Its TTL in minutes, which the policy pack checks (the VM ends at expireAt). */
  ttlMinutes: number;
  /** Labels. */
  labels: Record<string, string>;
}

/** A gateway VM: cloud-init boot, no SSH provisioning, deleted at expiry by Compute Engine and, failing that, by itself. */
export class GcpGateway extends pulumi.ComponentResource {
  constructor(name: string, args: GcpGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    // Registered inputs are what the policy pack sees: labels (as tags) and TTL, never secrets.
    super("skyplane:gcp:Gateway", name, { tags: args.labels, ttlMinutes: args.ttlMinutes }, opts);
    const userData = pulumi
      .all([args.program, args.project, args.secret])
      .apply(([program, project, secret]) =>
        renderBootScript({
          program,
          image: args.containerImage,
          secrets: { provider: "gcp", secret, project },
          controlPort: args.controlPort,
          dataPort: args.dataPort,
          expireAt: args.expireAt,
        }),
      );
    const vm = new compute.Instance(
      `${name}-vm`,
      {
        project: args.project,
        zone: args.zone,
        machineType: args.machineType,
        bootDisk: { initializeParams: { image: args.image } },
        networkInterfaces: [{ subnetwork: args.subnet, accessConfigs: [{ natIp: args.address }] }],
        metadata: { "user-data": userData },
        serviceAccount: { email: args.serviceAccount, scopes: ["cloud-platform"] },
        tags: [args.tag],
        labels: args.labels,
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
    this.registerOutputs({});
  }
}
