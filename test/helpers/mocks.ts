import * as pulumi from "@pulumi/pulumi";

/*
 * Pulumi's mocks are global to the process, so every mock test shares this one set-up: it records each
 * registered resource, gives addresses from TEST-NET-2 (a documentation range: nothing is ever sent) and
 * fails any provider function call (the components must not look anything up).
 */

/** A resource the mocks saw. */
export interface Registered {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

/** Everything registered so far, in order. */
export const registered: Registered[] = [];
let ips = 0;

pulumi.runtime.setMocks(
  {
    newResource(args: pulumi.runtime.MockResourceArgs) {
      registered.push({ type: args.type, name: args.name, inputs: args.inputs });
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "aws:ec2/eip:Eip") state.publicIp = `198.51.100.${++ips}`;
      if (args.type === "gcp:compute/address:Address") state.address = `198.51.100.${++ips}`;
      if (args.type === "aws:secretsmanager/secret:Secret")
        state.arn = `arn:aws:secretsmanager:region:123456789012:secret:${args.name}`;
      if (args.type === "aws:iam/instanceProfile:InstanceProfile") state.name = args.name;
      if (args.type === "aws:iam/role:Role")
        state.arn = `arn:aws:iam::123456789012:role/${args.name}`;
      if (args.type === "aws:ec2/instance:Instance")
        state.arn = `arn:aws:ec2:region:123456789012:instance/${args.name}-id`;
      if (args.type === "azure-native:network:PublicIPAddress")
        state.ipAddress = `198.51.100.${++ips}`;
      if (args.type === "azure-native:managedidentity:UserAssignedIdentity")
        state.principalId = `principal-${args.name}`;
      if (args.type.startsWith("azure-native:")) {
        // Azure names a resource by its own `<kind>Name` input (a resource group by `resourceGroupName`).
        const own = args.type.endsWith(":ResourceGroup")
          ? "resourceGroupName"
          : Object.keys(args.inputs).find((k) => k.endsWith("Name") && k !== "resourceGroupName");
        state.name = (own && args.inputs[own]) ?? args.name;
      }
      if (args.type === "gcp:serviceaccount/account:Account")
        state.email = `${args.inputs.accountId}@project.iam.gserviceaccount.com`;
      if (args.type === "gcp:projects/iAMCustomRole:IAMCustomRole")
        state.name = `projects/p/roles/${args.inputs.roleId}`;
      if (
        args.type === "gcp:compute/network:Network" ||
        args.type === "gcp:compute/subnetwork:Subnetwork"
      ) {
        state.selfLink = `https://compute/${args.name}`;
      }
      return { id: `${args.name}-id`, state };
    },
    call(args: pulumi.runtime.MockCallArgs) {
      throw new Error(`unexpected call to ${args.token}: a component must not look anything up`);
    },
  },
  "skyplane",
  "mocks",
  false,
);

/** The value of an output, once known. */
export function value<T>(o: pulumi.Input<T>): Promise<pulumi.Unwrap<T>> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as pulumi.Unwrap<T>)));
}

/** Every resource reachable from `root` through its children, as the objects the program made. */
export function descendantResources(root: pulumi.Resource): pulumi.Resource[] {
  const out: pulumi.Resource[] = [];
  const walk = (r: pulumi.Resource) => {
    for (const c of (r as unknown as { __childResources?: Set<pulumi.Resource> })
      .__childResources ?? new Set()) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** Names of every resource reachable from `root` through its children. */
export function descendants(root: pulumi.Resource): Set<string> {
  return new Set(descendantResources(root).map((c) => (c as unknown as { __name: string }).__name));
}

/** The type token of a resource, e.g. `skyplane:aws:Gateway`. */
export function typeOf(r: pulumi.Resource): string {
  return (r as unknown as { __pulumiType: string }).__pulumiType;
}

/** Azure settings for mock dataplanes (ids of the right shape; nothing is ever called). */
export const AZURE_TEST_SETTINGS = {
  subscriptionId: "00000000-0000-0000-0000-000000000000",
  tenantId: "11111111-1111-1111-1111-111111111111",
  imageId: "img",
  storageAccountId:
    "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/acct",
  sshPublicKey: "ssh-ed25519 AAAA test",
};
