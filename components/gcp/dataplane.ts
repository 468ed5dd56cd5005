import * as compute from "@pulumi/gcp/compute";
import * as projects from "@pulumi/gcp/projects";
import * as secretmanager from "@pulumi/gcp/secretmanager";
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
import { GcpGatewayFirewall } from "./firewall";
import { GcpGateway } from "./gateway";
import { GcpGatewayIdentity } from "./iam";
import { dataplaneLabels, SELF_DELETE_PERMISSIONS } from "./naming";
import { GcpNetwork } from "./network";

/** Arguments of a dataplane on GCP; its topology's region ids are zones, e.g. gcp:us-central1-a. */
export interface GcpDataplaneArgs extends CloudDataplaneArgs {
  /** The project. */
  project: pulumi.Input<string>;
  /** VM image with Docker, jq and gcloud. */
  image: pulumi.Input<string>;
  /** The gateway container image. */
  containerImage: string;
  /** Buckets the gateways read. */
  readBuckets: string[];
  /** Buckets the gateways write. */
  writeBuckets: string[];
}

/** Every gateway of a topology as Compute Engine VMs, with their network, firewall, identity and secret. */
export class GcpDataplane extends pulumi.ComponentResource {
  /** Where the runner reaches each gateway. */
  readonly gateways: pulumi.Output<GatewayEndpoint[]>;

  constructor(name: string, args: GcpDataplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:gcp:Dataplane", name, {}, opts);
    const { topology } = args;
    const gateways = cloudGateways(topology, "gcp", "GCP", this);
    const { route, controlPort, dataPort, ttlMinutes } = dataplaneDefaults(args);
    const zone = (regionId: string) => parseRegion(regionId).name;
    const regionOf = (regionId: string) => parseRegion(regionId).region;
    const regions = [...new Set(gateways.map((g) => regionOf(g.region)))].sort();
    const labels = dataplaneLabels(route, name, args.expireAt);
    const id =
      name
        .toLowerCase()
        .replace(/[^a-z0-9]/g, "")
        .slice(0, 12) || "dp";
    const tag = `skyplane-${id}`;
    const addresses = new Map(
      gateways.map((g) => [
        g.id,
        new compute.Address(
          `${name}-${g.id}-ip`,
          { project: args.project, region: regionOf(g.region), labels },
          { parent: this },
        ),
      ]),
    );
    const book = addressBook(
      new Map([...addresses].map(([gid, a]) => [gid, a.address])),
      args.remotePeers,
    );
    const network = new GcpNetwork(
      `${name}-net`,
      { project: args.project, regions },
      { parent: this },
    );
    new GcpGatewayFirewall(
      `${name}-fw`,
      {
        project: args.project,
        network: network.network,
        targetTag: tag,
        peerIps: book.peerIps,
        clientCidr: args.clientCidr,
        dataPort,
        controlPort,
        sshCidr: args.sshCidr,
      },
      { parent: this },
    );
    const identity = new GcpGatewayIdentity(
      `${name}-identity`,
      { project: args.project, id, readBuckets: args.readBuckets, writeBuckets: args.writeBuckets },
      { parent: this },
    );
    const secret = new secretmanager.Secret(
      `${name}-secret`,
      { project: args.project, secretId: `skyplane-${id}`, replication: { auto: {} }, labels },
      { parent: this },
    );
    new secretmanager.SecretVersion(
      `${name}-secret-value`,
      {
        secret: secret.id,
        secretData: pulumi.secret(pulumi.jsonStringify({ token: args.token, key: args.key })),
      },
      { parent: this },
    );
    new secretmanager.SecretIamMember(
      `${name}-secret-access`,
      {
        project: args.project,
        secretId: secret.secretId,
        role: "roles/secretmanager.secretAccessor",
        member: identity.member,
      },
      { parent: this },
    );
    const selfDelete = new projects.IAMCustomRole(
      `${name}-self-delete`,
      {
        project: args.project,
        roleId: `skyplane_${id}_self_delete`,
        title: "skyplane gateway self-delete",
        permissions: SELF_DELETE_PERMISSIONS,
      },
      { parent: this },
    );
    for (const spec of gateways) {
      new GcpGateway(
        `${name}-${spec.id}`,
        {
          project: args.project,
          zone: zone(spec.region),
          program: boundProgram(spec, book.peers, dataPort),
          machineType: spec.vmClass,
          image: args.image,
          containerImage: args.containerImage,
          subnet: network.subnets[regionOf(spec.region)],
          address: (addresses.get(spec.id) as compute.Address).address,
          tag,
          serviceAccount: identity.email,
          secret: secret.secretId,
          selfDeleteRole: selfDelete.name,
          member: identity.member,
          controlPort,
          dataPort,
          expireAt: args.expireAt,
          ttlMinutes,
          labels,
        },
        { parent: this },
      );
    }
    this.gateways = gatewayEndpoints(gateways, book.own, controlPort, dataPort);
    this.registerOutputs({ gateways: this.gateways });
  }
}
