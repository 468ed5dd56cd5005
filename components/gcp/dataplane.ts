import * as compute from "@pulumi/gcp/compute";
import * as projects from "@pulumi/gcp/projects";
import * as secretmanager from "@pulumi/gcp/secretmanager";
import * as pulumi from "@pulumi/pulumi";
import { parseRegion } from "../../common/regions";
import { CloudDataplane, CloudDataplaneArgs, CloudParts } from "../cloud";
import { GcpGatewayFirewall } from "./firewall";
import { GcpGateway } from "./gateway";
import { GcpGatewayIdentity } from "./iam";
import { dataplaneLabels, SELF_DELETE_PERMISSIONS } from "./naming";
import { GcpNetwork } from "./network";

/** Arguments of a dataplane on GCP; its topology's region ids are zones, e.g. gcp:us-central1-a. */
export interface GcpDataplaneArgs extends CloudDataplaneArgs {
  /** The project. */
  project: pulumi.Input<string>;
  /** The gateway VM image (a global image of the project or another). */
  image: pulumi.Input<string>;
}

/** Every gateway of a topology as Compute Engine VMs, with their network, firewall, identity and secret. */
export class GcpDataplane extends CloudDataplane {
  constructor(name: string, args: GcpDataplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:gcp:Dataplane", name, args, gcpParts(args), opts);
  }
}

/** A short id of the dataplane for role, account and secret names (letters and digits), and its network tag. */
interface GcpIds {
  readonly id: string;
  readonly tag: string;
}

/** What every GCP gateway shares: one network, identity, secret and self-delete role. */
interface GcpShared extends GcpIds {
  readonly network: GcpNetwork;
  readonly identity: GcpGatewayIdentity;
  readonly secret: secretmanager.Secret;
  readonly selfDelete: projects.IAMCustomRole;
}

/** The zone of a region id, e.g. us-central1-a of gcp:us-central1-a. */
const zoneOf = (regionId: string) => parseRegion(regionId).name;
/** The region of a region id (a zone), e.g. us-central1 of gcp:us-central1-a. */
const regionOf = (regionId: string) => parseRegion(regionId).region;

/** What is GCP's own in a dataplane: one global network and firewall, a subnet per region. */
function gcpParts(
  args: GcpDataplaneArgs,
): CloudParts<GcpIds, compute.Address, GcpShared, pulumi.Output<string>> {
  const project = args.project;
  return {
    provider: "gcp",
    label: "GCP",
    regionOf,
    tags: dataplaneLabels,
    prepare({ name }) {
      const id =
        name
          .toLowerCase()
          .replace(/[^a-z0-9]/g, "")
          .slice(0, 12) || "dp";
      return { id, tag: `skyplane-${id}` };
    },
    address({ name, parent, tags }, _ids, g) {
      const address = new compute.Address(
        `${name}-${g.id}-ip`,
        { project, region: regionOf(g.region), labels: tags },
        { parent },
      );
      return { ref: address, ip: address.address };
    },
    shared({ name, parent, regions, tags }, { id, tag }, rules) {
      const network = new GcpNetwork(`${name}-net`, { project, regions: [...regions] }, { parent });
      new GcpGatewayFirewall(
        `${name}-fw`,
        { ...rules, project, network: network.network, targetTag: tag },
        { parent },
      );
      const identity = new GcpGatewayIdentity(
        `${name}-identity`,
        { project, id, readBuckets: args.readBuckets, writeBuckets: args.writeBuckets },
        { parent },
      );
      const secret = new secretmanager.Secret(
        `${name}-secret`,
        { project, secretId: `skyplane-${id}`, replication: { auto: {} }, labels: tags },
        { parent },
      );
      new secretmanager.SecretVersion(
        `${name}-secret-value`,
        {
          secret: secret.id,
          secretData: pulumi.secret(pulumi.jsonStringify({ token: args.token, key: args.key })),
        },
        { parent },
      );
      new secretmanager.SecretIamMember(
        `${name}-secret-access`,
        {
          project,
          secretId: secret.secretId,
          role: "roles/secretmanager.secretAccessor",
          member: identity.member,
        },
        { parent },
      );
      const selfDelete = new projects.IAMCustomRole(
        `${name}-self-delete`,
        {
          project,
          roleId: `skyplane_${id}_self_delete`,
          title: "skyplane gateway self-delete",
          permissions: SELF_DELETE_PERMISSIONS,
        },
        { parent },
      );
      return { id, tag, network, identity, secret, selfDelete };
    },
    // The network is global: a region has only its subnet.
    region: (_site, { network }, region) => network.subnets[region],
    gateway(name, spec, common, { site, shared, net }) {
      new GcpGateway(
        name,
        {
          ...common,
          project,
          zone: zoneOf(spec.region),
          image: args.image,
          subnet: net,
          tag: shared.tag,
          serviceAccount: shared.identity.email,
          secret: shared.secret.secretId,
          selfDeleteRole: shared.selfDelete.name,
          member: shared.identity.member,
        },
        { parent: site.parent },
      );
    },
  };
}
