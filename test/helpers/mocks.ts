import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

/*
 * Pulumi's mocks are global to the process, so every mock test shares this one set-up: it records each
 * registered resource and each provider function call, gives addresses from TEST-NET-2 (a documentation
 * range: nothing is ever sent), answers the stock image lookups (AWS's getAmi, GCP's getImage) as the
 * clouds would, and fails any other call (the components look nothing else up).
 */

/** A resource the mocks saw. */
export interface Registered {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

/** Everything registered so far, in order. */
export const registered: Registered[] = [];

/** A provider function call the mocks answered. */
export interface Called {
  readonly token: string;
  readonly inputs: Record<string, unknown>;
}

/** Every provider function call so far, in order. */
export const calls: Called[] = [];

/**
 * AWS regions (e.g. ap-east-1) in which the mocks' getAmi finds nothing, as AWS answers a query that
 * matches no image. A test adds the region it needs and removes it after.
 */
export const regionsWithoutStockImage = new Set<string>();
let ips = 0;
/** Service accounts made so far (each gets a unique id of its own). */
let accounts = 0;
/** Addresses by resource: a resource of the same type and name keeps its address, as a static one does. */
const addresses = new Map<string, string>();
function addressOf(resource: string): string {
  let ip = addresses.get(resource);
  if (!ip) {
    ip = `198.51.100.${++ips}`;
    addresses.set(resource, ip);
  }
  return ip;
}
/** Who waits for a registration, by type and name (names are unique per type only). */
const waiting = new Map<string, Array<(r: Registered) => void>>();

pulumi.runtime.setMocks(
  {
    newResource(args: pulumi.runtime.MockResourceArgs) {
      const entry = { type: args.type, name: args.name, inputs: args.inputs };
      registered.push(entry);
      const key = `${args.type} ${args.name}`;
      for (const resolve of waiting.get(key) ?? []) resolve(entry);
      waiting.delete(key);
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === "aws:ec2/eip:Eip") state.publicIp = addressOf(key);
      if (args.type === "gcp:compute/address:Address") state.address = addressOf(key);
      if (args.type === "aws:secretsmanager/secret:Secret")
        state.arn = `arn:aws:secretsmanager:region:123456789012:secret:${args.name}`;
      if (args.type === "aws:iam/instanceProfile:InstanceProfile") state.name = args.name;
      if (args.type === "aws:iam/role:Role")
        state.arn = `arn:aws:iam::123456789012:role/${args.name}`;
      if (args.type === "aws:ec2/instance:Instance")
        state.arn = `arn:aws:ec2:region:123456789012:instance/${args.name}-id`;
      if (args.type === "aws:s3/bucket:Bucket") {
        // S3 names a bucket by its prefix and a unique suffix, and the bucket's id is its name.
        state.bucket = `${String(args.inputs.bucketPrefix ?? "")}${args.name}`;
        state.arn = `arn:aws:s3:::${String(state.bucket)}`;
        return { id: String(state.bucket), state };
      }
      if (args.type === "gcp:storage/bucket:Bucket") state.name = `${args.name}-bucket-name`;
      if (args.type === "azure-native:network:PublicIPAddress") state.ipAddress = addressOf(key);
      if (args.type === "azure-native:managedidentity:UserAssignedIdentity")
        state.principalId = `principal-${args.name}`;
      if (args.type.startsWith("azure-native:")) {
        // Azure names a resource by its own `<kind>Name` input (a resource group by `resourceGroupName`,
        // a blob container by `containerName`, not by the `accountName` of the account it is in).
        const kind = (args.type.split(":").pop() ?? "").toLowerCase();
        const names = Object.keys(args.inputs).filter(
          (k) => k.endsWith("Name") && k !== "resourceGroupName",
        );
        const own = args.type.endsWith(":ResourceGroup")
          ? "resourceGroupName"
          : (names.find((k) => kind.endsWith(k.slice(0, -4).toLowerCase())) ?? names[0]);
        state.name = (own && args.inputs[own]) ?? args.name;
      }
      if (args.type === "gcp:serviceaccount/account:Account") {
        state.email = `${args.inputs.accountId}@project.iam.gserviceaccount.com`;
        // GCP gives every account it makes a new 21-digit unique id, even under a reused name.
        state.uniqueId = `1${String(++accounts).padStart(20, "0")}`;
      }
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
      calls.push({ token: args.token, inputs: args.inputs });
      if (args.token === "aws:ec2/getAmi:getAmi") {
        const region = String(args.inputs.region);
        if (regionsWithoutStockImage.has(region)) {
          // As the engine reports a provider's error: a gRPC status whose details are its message.
          const message =
            "Your query returned no results. Please change your search criteria and try again.";
          throw Object.assign(new Error(message), { details: message });
        }
        return { id: `ami-ubuntu-${region}`, imageId: `ami-ubuntu-${region}` };
      }
      if (args.token === "gcp:compute/getImage:getImage") {
        const family = String(args.inputs.family);
        return {
          name: `${family}-v20260101`,
          family,
          selfLink: `https://www.googleapis.com/compute/v1/projects/${String(args.inputs.project)}/global/images/${family}-v20260101`,
        };
      }
      throw new Error(`unexpected call to ${args.token}: a component looks up only stock images`);
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

/**
 * Waits until `roots` and every resource under them are registered with the mocks (a resource's URN
 * resolves once its registration has returned), children made meanwhile too; returns how many there are.
 */
export async function settled(...roots: pulumi.Resource[]): Promise<number> {
  const done = new Set<pulumi.Resource>();
  for (;;) {
    const fresh = [...roots, ...roots.flatMap(descendantResources)].filter((r) => !done.has(r));
    if (fresh.length === 0) return done.size;
    await Promise.all(fresh.map((r) => value(r.urn)));
    for (const r of fresh) done.add(r);
  }
}

/** The registration of the resource of `type` named `name`, once the mocks have seen it. */
export function registration(type: string, name: string): Promise<Registered> {
  const seen = registered.find((r) => r.type === type && r.name === name);
  if (seen) return Promise.resolve(seen);
  const key = `${type} ${name}`;
  return new Promise((resolve) => waiting.set(key, [...(waiting.get(key) ?? []), resolve]));
}

/** Azure settings for mock dataplanes (ids of the right shape; nothing is ever called; the stock image). */
export const AZURE_TEST_SETTINGS = {
  subscriptionId: "00000000-0000-0000-0000-000000000000",
  tenantId: "11111111-1111-1111-1111-111111111111",
  storageAccountId:
    "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/acct",
  sshPublicKey: "ssh-ed25519 AAAA test",
};

/**
 * A gateway bundle for mock dataplanes: a small file whose sha256 is its own, written once per content
 * under the system's temporary folder (the mocks never read it; the stack would upload it).
 */
export function testBundle(content = "skyplane gateway bundle for tests"): {
  path: string;
  sha256: string;
} {
  const sha256 = crypto.createHash("sha256").update(content).digest("hex");
  const dir = path.join(os.tmpdir(), `skyplane-test-bundle-${sha256.slice(0, 12)}`);
  const file = path.join(dir, "skyplane-gateway-0.0.0-test-linux-x64.tar.gz");
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, content);
  }
  return { path: file, sha256 };
}
