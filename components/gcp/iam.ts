import * as projects from "@pulumi/gcp/projects";
import * as serviceaccount from "@pulumi/gcp/serviceaccount";
import * as storage from "@pulumi/gcp/storage";
import * as pulumi from "@pulumi/pulumi";
import { customRoleId, READ_PERMISSIONS, WRITE_PERMISSIONS } from "./naming";

/** Arguments of the gateways' identity. */
export interface GcpGatewayIdentityArgs {
  /** The project. */
  project: pulumi.Input<string>;
  /** A short id for role and account names (`dataplaneId`: lowercase letters and digits). */
  id: string;
  /** Buckets the gateways read. */
  readBuckets: string[];
  /** Buckets the gateways write. */
  writeBuckets: string[];
}

/** A service account holding exactly the object permissions this dataplane's buckets need. */
export class GcpGatewayIdentity extends pulumi.ComponentResource {
  /** The service account's email. */
  readonly email: pulumi.Output<string>;
  /** The account as an IAM member (`serviceAccount:…`). */
  readonly member: pulumi.Output<string>;
  /** The account's unique id, new each time the account is made (role ids include it). */
  readonly uniqueId: pulumi.Output<string>;

  constructor(name: string, args: GcpGatewayIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:gcp:GatewayIdentity", name, {}, opts);
    const account = new serviceaccount.Account(
      `${name}-sa`,
      {
        project: args.project,
        accountId: `skyplane-${args.id}`.slice(0, 30),
        displayName: "skyplane gateways",
      },
      { parent: this },
    );
    this.email = account.email;
    this.member = pulumi.interpolate`serviceAccount:${account.email}`;
    this.uniqueId = account.uniqueId;
    const role = (kind: string, permissions: string[]) =>
      new projects.IAMCustomRole(
        `${name}-${kind}`,
        {
          project: args.project,
          roleId: this.uniqueId.apply((unique) => customRoleId(args.id, kind, unique)),
          title: `skyplane ${kind}`,
          permissions,
        },
        { parent: this },
      );
    const grant = (bucket: string, r: projects.IAMCustomRole, kind: string) =>
      new storage.BucketIAMMember(
        `${name}-${kind}-${bucket}`,
        { bucket, role: r.name, member: this.member },
        { parent: this },
      );
    if (args.readBuckets.length) {
      const read = role("read", READ_PERMISSIONS);
      for (const b of args.readBuckets) grant(b, read, "read");
    }
    if (args.writeBuckets.length) {
      const write = role("write", WRITE_PERMISSIONS);
      for (const b of args.writeBuckets) grant(b, write, "write");
    }
    this.registerOutputs({ email: this.email, member: this.member, uniqueId: this.uniqueId });
  }
}
