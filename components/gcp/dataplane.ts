import * as compute from "@pulumi/gcp/compute";
import * as projects from "@pulumi/gcp/projects";
import * as secretmanager from "@pulumi/gcp/secretmanager";
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
import { GcpArtifacts } from "./artifacts";
import { GcpGatewayFirewall } from "./firewall";
import { GcpGateway } from "./gateway";
import { GcpGatewayIdentity } from "./iam";
import { stockImage } from "./image";
import { customRoleId, dataplaneId, dataplaneLabels, SELF_DELETE_PERMISSIONS } from "./naming";
import { GcpNetwork } from "./network";

/** Arguments of a dataplane on GCP; its topology's region ids are zones, e.g. gcp:us-central1-a. */
export interface GcpDataplaneArgs extends CloudDataplaneArgs {
  /** The project. */
  project: pulumi.Input<string>;
  /**
   * Your own gateway VM image (a global image of the project or another). Default: the newest image of
   * Canonical's Ubuntu 24.04 LTS family, looked up at `up`.
   */
  image?: pulumi.Input<string>;
  /** The Node binary on your own image (e.g. /usr/bin/node). Default: the pinned Node runtime, fetched at boot. */
  node?: string;
}

/** Every gateway of a topology as Compute Engine VMs, with their network, firewall, identity and secret. */
export class GcpDataplane extends CloudDataplane {
  constructor(name: string, args: GcpDataplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:gcp:Dataplane", name, args, gcpParts(args), opts);
  }
}

/**
 * The dataplane's id in role, account and secret names (`dataplaneId`, unique per stack), its network tag,
 * and the gateways' image (yours, or the stock one).
 */
interface GcpIds {
  readonly id: string;
  readonly tag: string;
  readonly image: { readonly self: pulumi.Input<string>; readonly stock: boolean };
}

/** What every GCP gateway shares: one network, identity, secret, self-delete role and artifacts bucket. */
interface GcpShared extends GcpIds, SharedArtifacts {
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
    prepare({ name, parent }) {
      if (args.node && !args.image)
        throw new pulumi.InputPropertyError({
          propertyPath: "image",
          reason: `node ${args.node} is a Node on your own image: give the image, or leave node unset to boot the stock image`,
        });
      const id = dataplaneId(pulumi.getProject(), pulumi.getStack(), name);
      const image = args.image
        ? { self: args.image, stock: false }
        : { self: stockImage(parent), stock: true };
      return { id, tag: `skyplane-${id}`, image };
    },
    address({ name, parent, tags }, _ids, g) {
      const address = new compute.Address(
        `${name}-${g.id}-ip`,
        { project, region: regionOf(g.region), labels: tags },
        { parent },
      );
      return { ref: address, ip: address.address };
    },
    shared({ name, parent, regions, tags }, { id, tag, image }, rules, bundle) {
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
          roleId: identity.uniqueId.apply((unique) => customRoleId(id, "self_delete", unique)),
          title: "skyplane gateway self-delete",
          permissions: SELF_DELETE_PERMISSIONS,
        },
        { parent },
      );
      // The bundle's bucket is in the region of the first gateways; the others fetch across regions.
      const artifacts = new GcpArtifacts(
        `${name}-artifacts`,
        { project, location: regions[0], bundle, reader: identity.member, labels: tags },
        { parent },
      );
      const bundleRef = pulumi
        .all([artifacts.bucket, artifacts.object])
        .apply(([bucket, object]): BootBundle => ({
          artifact: { provider: "gcp", bucket, object } satisfies ArtifactRef,
          sha256: bundle.sha256,
        }));
      return { id, tag, image, network, identity, secret, selfDelete, bundle: bundleRef };
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
          image: shared.image.self,
          stockImage: shared.image.stock,
          node: nodeSource(args.nodeRuntime, shared.image.stock ? undefined : args.node),
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
