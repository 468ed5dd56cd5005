import { BlockList, isIP } from "node:net";
import { MAX_TTL_MINUTES } from "../common/ttl";

/*
 * The guardrails of skyplane's stacks as pure checks: each takes a resource's type and inputs and returns
 * what is wrong with it (nothing when it complies). `policy/index.ts` serves them as a Pulumi policy pack;
 * the tests call them directly, on hand-made resources and on everything the cloud components build.
 */

/** A resource as the policy engine shows it: its type token and its inputs. */
export interface PolicyResource {
  readonly type: string;
  readonly props: Record<string, unknown>;
}

/** One guardrail. */
export interface Rule {
  /** The policy's name (kebab-case, as the engine reports it). */
  readonly name: string;
  /** What it enforces, for `pulumi policy` listings and violation reports. */
  readonly description: string;
  /** The violations of `resource`, one message each; empty when it complies. */
  check(resource: PolicyResource): string[];
}

/** Gateway components, one per cloud (and the local cloud's processes). */
export const GATEWAY_COMPONENTS = [
  "skyplane:local:Gateway",
  "skyplane:aws:Gateway",
  "skyplane:gcp:Gateway",
  "skyplane:azure:Gateway",
];

/** The VM types gateways run on: every VM of a skyplane stack is a gateway. */
const GATEWAY_VMS: Record<string, "tags" | "labels"> = {
  "aws:ec2/instance:Instance": "tags",
  "gcp:compute/instance:Instance": "labels",
  "azure-native:compute:VirtualMachine": "tags",
};

/** Tag keys every gateway carries, by separator style: AWS uses `skyplane:route`, GCP and Azure `skyplane-route`. */
const REQUIRED_TAGS = ["skyplane", "route", "dataplane", "expires"];

/**
 * The narrowest prefix that still counts as "the world": an IPv4 range wider than a /8 (1/256 of the
 * address space, the size of the largest single allocations) or an IPv6 range wider than a /32 (a
 * registry's smallest allocation to a network operator). What skyplane opens is far narrower: the
 * gateways' /32s and the client's CIDR.
 */
export const WORLD_PREFIX = { ipv4: 8, ipv6: 32 } as const;

/** IPv4 written as IPv6 (`::ffff:a.b.c.d`): a range there is an IPv4 range 96 bits longer. */
const IPV4_MAPPED = new BlockList();
IPV4_MAPPED.addSubnet("::ffff:0:0", 96, "ipv6");

/**
 * True for a source that means "anyone" or a large part of it: Azure's `*`/`Internet`/`Any`/`AzureCloud`,
 * an unspecified address, or any range wider than {@link WORLD_PREFIX} (so `0.0.0.0/1` and `128.0.0.0/1`,
 * which together are the internet, are caught like `0.0.0.0/0`). A range that cannot be read is
 * rejected too: the pack fails closed.
 */
export function isWorldSource(source: unknown): boolean {
  if (typeof source !== "string") return false;
  const s = source.trim();
  if (["*", "internet", "any", "0.0.0.0", "::", ""].includes(s.toLowerCase())) return true;
  // Azure's service tag of every Azure datacenter address (per region too): anyone can rent a VM there.
  if (/^azurecloud(\.|$)/i.test(s)) return true;
  const slash = s.indexOf("/");
  if (slash < 0) return false; // a single address, or a named tag such as VirtualNetwork
  const address = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const family = isIP(address);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return true;
  const length = Number(bits);
  if (family === 4) return length > 32 || length < WORLD_PREFIX.ipv4;
  if (length > 128) return true;
  if (IPV4_MAPPED.check(address, "ipv6") && length >= 96) return length - 96 < WORLD_PREFIX.ipv4;
  return length < WORLD_PREFIX.ipv6;
}

const list = (v: unknown): unknown[] =>
  Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === "object" ? (v as Record<string, unknown>) : {};

/** The world-open sources among `sources`, as a violation message about `what` (none if there are none). */
function worldOpen(what: string, sources: unknown[]): string[] {
  const open = sources.filter(isWorldSource);
  return open.length > 0
    ? [
        `${what} admits ${open.map((s) => JSON.stringify(s)).join(", ")}: open it only to the gateways' peers and the client`,
      ]
    : [];
}

/** Ingress open to the whole internet, on any cloud's firewall resources or a local gateway's bind address. */
export const noWorldOpenIngress: Rule = {
  name: "no-world-open-ingress",
  description:
    "Gateway ports are opened only to the topology's gateways and the client, never to Internet or a range wider than an IPv4 /8 or an IPv6 /32 (0.0.0.0/0, 0.0.0.0/1, ::/1, ...).",
  check({ type, props }) {
    switch (type) {
      case "aws:ec2/securityGroup:SecurityGroup":
        return list(props.ingress).flatMap((rule, i) => {
          const r = obj(rule);
          return worldOpen(`ingress rule ${i} (port ${String(r.fromPort)})`, [
            ...list(r.cidrBlocks),
            ...list(r.ipv6CidrBlocks),
          ]);
        });
      case "aws:ec2/securityGroupRule:SecurityGroupRule":
        return props.type === "ingress"
          ? worldOpen("the ingress rule", [
              ...list(props.cidrBlocks),
              ...list(props.ipv6CidrBlocks),
            ])
          : [];
      case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        return worldOpen("the ingress rule", [...list(props.cidrIpv4), ...list(props.cidrIpv6)]);
      case "gcp:compute/firewall:Firewall": {
        if ((props.direction ?? "INGRESS") !== "INGRESS") return [];
        const ranges = list(props.sourceRanges);
        // With no source at all, GCP applies the rule to 0.0.0.0/0.
        if (
          ranges.length === 0 &&
          list(props.sourceTags).length === 0 &&
          list(props.sourceServiceAccounts).length === 0
        )
          return [
            "the firewall rule names no source, so GCP admits 0.0.0.0/0: give it sourceRanges of the peers",
          ];
        return worldOpen("the firewall rule", ranges);
      }
      case "azure-native:network:NetworkSecurityGroup":
        return list(props.securityRules).flatMap((rule) => azureRule(obj(rule)));
      case "azure-native:network:SecurityRule":
        return azureRule(props);
      case "skyplane:local:Gateway":
        return props.host === undefined
          ? []
          : worldOpen("the gateway's bind address", [props.host]).map((m) =>
              m.replace(
                "open it only to",
                "bind it to loopback or a namespace's address, reachable only by",
              ),
            );
      default:
        return [];
    }
  },
};

function azureRule(rule: Record<string, unknown>): string[] {
  if (rule.direction !== "Inbound" || rule.access !== "Allow") return [];
  return worldOpen(`security rule ${JSON.stringify(rule.name ?? "")}`, [
    ...list(rule.sourceAddressPrefix),
    ...list(rule.sourceAddressPrefixes),
  ]);
}

/** An AWS resource pattern that names everything: `*`, or a wildcard anywhere but an object path's `/*`. */
function wildcardResource(resource: string): boolean {
  return resource.replace(/\/\*$/, "").includes("*");
}

/** What is too broad in an AWS IAM policy document (JSON text or object). */
export function awsPolicyProblems(document: unknown): string[] {
  let doc: Record<string, unknown>;
  try {
    doc = obj(typeof document === "string" ? JSON.parse(document) : document);
  } catch {
    return ["the policy document is not valid JSON"];
  }
  return list(doc.Statement).flatMap((s, i) => {
    const st = obj(s);
    if (st.Effect !== "Allow") return [];
    const sid = `statement ${String(st.Sid ?? i)}`;
    const out: string[] = [];
    if (st.NotAction !== undefined || st.NotResource !== undefined)
      out.push(
        `${sid} allows by exclusion (NotAction/NotResource): list exact actions and resources`,
      );
    const actions = list(st.Action).filter((a) => typeof a === "string" && a.includes("*"));
    if (actions.length)
      out.push(`${sid} allows wildcard actions ${actions.join(", ")}: list the exact actions`);
    const resources = list(st.Resource).filter((r) => typeof r === "string" && wildcardResource(r));
    if (resources.length)
      out.push(
        `${sid} allows wildcard resources ${resources.join(", ")}: name the exact buckets and secrets`,
      );
    return out;
  });
}

/** Predefined GCP roles that grant everything on the resource they are bound to. */
const GCP_BROAD_ROLES = [
  "roles/owner",
  "roles/editor",
  "roles/storage.admin",
  "roles/iam.serviceAccountAdmin",
  "roles/compute.admin",
];
/** Azure built-in roles that grant everything on their scope (by role definition id). */
const AZURE_BROAD_ROLES: Record<string, string> = {
  "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
  "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
  "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
};

/** Wildcard IAM: actions or resources given as `*`, primitive roles, or grants on a whole subscription. */
export const noWildcardIam: Rule = {
  name: "no-wildcard-iam",
  description:
    "Gateway identities get exact actions on exact buckets and secrets: no `*` actions or resources, no owner/editor/contributor roles.",
  check({ type, props }) {
    switch (type) {
      case "aws:iam/rolePolicy:RolePolicy":
      case "aws:iam/policy:Policy":
      case "aws:iam/userPolicy:UserPolicy":
        return awsPolicyProblems(props.policy);
      case "aws:iam/role:Role":
        return list(props.inlinePolicies).flatMap((p) => awsPolicyProblems(obj(p).policy));
      case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
        return typeof props.policyArn === "string" &&
          props.policyArn.startsWith("arn:aws:iam::aws:policy/")
          ? [
              `attaches the AWS-managed policy ${props.policyArn}: grant an inline policy of exact actions instead`,
            ]
          : [];
      case "gcp:projects/iAMCustomRole:IAMCustomRole":
        return list(props.permissions).some((p) => typeof p === "string" && p.includes("*"))
          ? ["the custom role lists a wildcard permission: list exact permissions"]
          : [];
      default:
        if (
          /^gcp:.*iam(member|binding):/i.test(type) &&
          GCP_BROAD_ROLES.includes(String(props.role))
        )
          return [`grants ${String(props.role)}: use a custom role of exact permissions`];
        if (type === "azure-native:authorization:RoleAssignment") {
          const out: string[] = [];
          const role =
            String(props.roleDefinitionId ?? "")
              .split("/")
              .pop() ?? "";
          if (AZURE_BROAD_ROLES[role])
            out.push(
              `assigns ${AZURE_BROAD_ROLES[role]}: assign a data-plane role of exact actions`,
            );
          const scope = String(props.scope ?? "");
          if (/^\/subscriptions\/[^/]+\/?$/.test(scope) || scope === "/")
            out.push(
              `is scoped to a whole subscription (${scope}): scope it to the exact container, secret or VM`,
            );
          return out;
        }
        if (type === "azure-native:authorization:RoleDefinition") {
          const actions = list(props.permissions).flatMap((p) => [
            ...list(obj(p).actions),
            ...list(obj(p).dataActions),
          ]);
          return actions.some((a) => a === "*")
            ? ["the role definition allows `*`: list exact actions"]
            : [];
        }
        return [];
    }
  },
};

/** The keys in `tags` that a gateway lacks (route, dataplane and expiry under either separator). */
function missingTags(tags: Record<string, unknown>): string[] {
  const has = (k: string) =>
    k === "skyplane"
      ? tags.skyplane !== undefined
      : tags[`skyplane:${k}`] !== undefined || tags[`skyplane-${k}`] !== undefined;
  return REQUIRED_TAGS.filter((k) => !has(k));
}

/** Gateways (components and VMs) carry the skyplane tags: what a review, a bill and a leak sweep go by. */
export const gatewaysTagged: Rule = {
  name: "gateways-tagged",
  description:
    "Every gateway and gateway VM is tagged skyplane, with its route, dataplane and expiry.",
  check({ type, props }) {
    const field = GATEWAY_COMPONENTS.includes(type) ? "tags" : GATEWAY_VMS[type];
    if (!field) return [];
    const missing = missingTags(obj(props[field]));
    return missing.length ? [`the gateway lacks the ${field} ${missing.join(", ")}`] : [];
  },
};

/** Gateways end themselves: a TTL in minutes (1 to a day), so nothing runs on after a crashed client. */
export const gatewaysHaveTtl: Rule = {
  name: "gateways-have-ttl",
  description: `Every gateway ends itself after a TTL of at most ${MAX_TTL_MINUTES} minutes; AWS gateways terminate when they shut down; Compute Engine deletes GCP gateways at their expiry.`,
  check({ type, props }) {
    if (type === "aws:ec2/instance:Instance")
      return props.instanceInitiatedShutdownBehavior === "terminate"
        ? []
        : [
            "the gateway VM would stop, not terminate, at its TTL: set instanceInitiatedShutdownBehavior to terminate",
          ];
    if (type === "gcp:compute/instance:Instance") {
      // Compute Engine's own deadline (components/gcp/gateway.ts): it deletes the VM whatever the guest does.
      const s = obj(props.scheduling);
      return s.instanceTerminationAction === "DELETE" &&
        (s.terminationTime !== undefined || s.maxRunDuration !== undefined)
        ? []
        : [
            "Compute Engine would not delete the gateway VM at its expiry: set scheduling.terminationTime and instanceTerminationAction DELETE",
          ];
    }
    if (!GATEWAY_COMPONENTS.includes(type)) return [];
    const ttl = props.ttlMinutes;
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0)
      return ["the gateway has no TTL: give it ttlMinutes so it ends itself if its client is gone"];
    if (ttl > MAX_TTL_MINUTES)
      return [`the gateway's TTL of ${ttl} minutes is over ${MAX_TTL_MINUTES}`];
    return [];
  },
};

/**
 * AWS gateway VMs keep their root volume encrypted: the boot script holds the dataplane's secrets only in
 * memory (/run), but the gateway's container state, logs and any swap live on that volume. EBS encrypts
 * only when asked (or when the account's default says so, which the pack cannot see); GCP and Azure
 * encrypt every disk at rest by default, so the rule has nothing to check there.
 */
export const gatewayDisksEncrypted: Rule = {
  name: "gateway-disks-encrypted",
  description: "Every volume of an AWS gateway VM is encrypted at rest.",
  check({ type, props }) {
    if (type !== "aws:ec2/instance:Instance") return [];
    const out: string[] = [];
    if (obj(props.rootBlockDevice).encrypted !== true)
      out.push("the gateway's root volume is not encrypted: set rootBlockDevice.encrypted to true");
    for (const d of list(props.ebsBlockDevices)) {
      const device = obj(d);
      if (device.encrypted !== true)
        out.push(
          `the gateway's volume ${String(device.deviceName)} is not encrypted: set its encrypted to true`,
        );
    }
    return out;
  },
};

/** Canned S3 ACLs that let someone outside the account read or write. */
const AWS_PUBLIC_ACLS = ["public-read", "public-read-write", "authenticated-read"];

/** GCP members that mean anyone: on the internet, or with any Google account. */
const GCP_PUBLIC_MEMBERS = ["allUsers", "allAuthenticatedUsers"];

/**
 * Storage a stack makes (its artifacts bucket, holding the gateway bundle) is never public: an S3 bucket's
 * public access block blocks everything, no canned ACL opens a bucket or object, a Cloud Storage bucket
 * enforces public access prevention with uniform access, no IAM grant or ACL names allUsers or
 * allAuthenticatedUsers, and an Azure account allows no public blob access nor a container any. A stack
 * never makes the buckets it copies between: every storage resource in it is skyplane's own.
 */
export const noPublicStorage: Rule = {
  name: "no-public-storage",
  description:
    "The stack's own buckets (the gateway bundle's) are private: S3 public access blocked and no public ACL, GCS public access prevention enforced with uniform access, no allUsers/allAuthenticatedUsers grant, no public Azure blob access.",
  check({ type, props }) {
    switch (type) {
      case "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {
        const off = [
          "blockPublicAcls",
          "blockPublicPolicy",
          "ignorePublicAcls",
          "restrictPublicBuckets",
        ].filter((k) => props[k] !== true);
        return off.length
          ? [`the bucket's public access block leaves ${off.join(", ")} off: set each to true`]
          : [];
      }
      case "aws:s3/bucket:Bucket":
      case "aws:s3/bucketV2:BucketV2":
      case "aws:s3/bucketAcl:BucketAcl":
      case "aws:s3/bucketAclV2:BucketAclV2":
      case "aws:s3/bucketObject:BucketObject":
      case "aws:s3/bucketObjectv2:BucketObjectv2":
        return AWS_PUBLIC_ACLS.includes(String(props.acl))
          ? [`the ACL ${String(props.acl)} opens it beyond the account: leave ACLs off`]
          : [];
      case "gcp:storage/bucket:Bucket": {
        const out: string[] = [];
        if (props.publicAccessPrevention !== "enforced")
          out.push("the bucket does not enforce public access prevention: set it to enforced");
        if (props.uniformBucketLevelAccess !== true)
          out.push("the bucket allows object ACLs: set uniformBucketLevelAccess to true");
        return out;
      }
      case "azure-native:storage:StorageAccount":
        return props.allowBlobPublicAccess === false
          ? []
          : ["the storage account allows public blob access: set allowBlobPublicAccess to false"];
      case "azure-native:storage:BlobContainer":
        return props.publicAccess === undefined || props.publicAccess === "None"
          ? []
          : [`the container's public access is ${String(props.publicAccess)}: set it to None`];
      default: {
        if (!/^gcp:storage\//.test(type)) return [];
        // IAM members and bindings, bucket and object ACLs (their `entity`), policies' bindings.
        const members = [
          ...list(props.member),
          ...list(props.members),
          ...list(props.entity),
          ...list(props.roleEntities),
        ].map((m) => String(m).replace(/^.*:/, ""));
        const open = members.filter((m) => GCP_PUBLIC_MEMBERS.includes(m));
        return open.length ? [`grants ${open.join(", ")}: grant the gateways' account alone`] : [];
      }
    }
  },
};

/** Every rule of the pack. */
export const RULES: readonly Rule[] = [
  noWorldOpenIngress,
  noWildcardIam,
  gatewaysTagged,
  gatewaysHaveTtl,
  gatewayDisksEncrypted,
  noPublicStorage,
];
