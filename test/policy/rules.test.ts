import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { AZURE_TEST_SETTINGS, registered as all, settled, testBundle } from "../helpers/mocks";
import { NODE_RUNTIME } from "../../gateway-image/node-runtime";
import { planDirect } from "../../planner/direct";
import { buildModel } from "../../planner/model";
import { MAX_TTL_MINUTES } from "../../common/ttl";
import {
  awsPolicyProblems,
  gatewayDisksEncrypted,
  gatewaysHaveTtl,
  gatewaysTagged,
  isWorldSource,
  noPublicStorage,
  noWildcardIam,
  noWorldOpenIngress,
  RULES,
} from "../../policy/rules";

/*
 * The guardrails one rule at a time, on hand-made resources, and then on everything the components build:
 * what skyplane makes must pass its own pack. (test/integration/by-hand.test.ts runs the pack through the
 * engine.)
 */
describe("policy: the guardrails", () => {
  const check = (rule: typeof noWorldOpenIngress, type: string, props: Record<string, unknown>) =>
    rule.check({ type, props });

  it("knows what a world-open source looks like", () => {
    for (const s of ["0.0.0.0/0", "::/0", "*", "Internet", "any", "0.0.0.0", "::", " 0.0.0.0/0 "])
      assert.ok(isWorldSource(s), s);
    for (const s of ["198.51.100.7/32", "10.0.0.0/8", "127.0.0.1", "VirtualNetwork", undefined, 7])
      assert.ok(!isWorldSource(s), String(s));
  });

  it("counts any range wider than a /8 (IPv4) or a /32 (IPv6) as the world, however it is written", () => {
    // Two halves of the internet are the internet; so is IPv4 written as IPv4-mapped IPv6.
    const world = [
      "0.0.0.0/1",
      "128.0.0.0/1",
      "0.0.0.0/7",
      "64.0.0.0/2",
      "::/1",
      "8000::/1",
      "2000::/3",
      "2001:db8::/31",
      "::ffff:0:0/96",
      "::ffff:0.0.0.0/97",
      "0.0.0.0/00",
      "1.2.3.4/33",
      "10.0.0.0/x",
      "AzureCloud",
      "AzureCloud.WestEurope",
    ];
    for (const s of world) assert.ok(isWorldSource(s), s);
    const narrow = [
      "0.0.0.0/8",
      "10.0.0.0/8",
      "100.64.0.0/10",
      "203.0.113.7/32",
      "2001:db8::/32",
      "2001:db8::1/128",
      "::ffff:198.51.100.7/128",
      "::ffff:10.0.0.0/104",
    ];
    for (const s of narrow) assert.ok(!isWorldSource(s), s);
    assert.deepEqual(
      check(noWorldOpenIngress, "aws:ec2/securityGroup:SecurityGroup", {
        ingress: [{ fromPort: 8080, cidrBlocks: ["0.0.0.0/1", "128.0.0.0/1"] }],
      }),
      [
        'ingress rule 0 (port 8080) admits "0.0.0.0/1", "128.0.0.0/1": open it only to the gateways\' peers and the client',
      ],
    );
  });

  describe("no-world-open-ingress", () => {
    it("rejects AWS security groups and rules open to the world, naming the port", () => {
      const sg = {
        ingress: [
          { fromPort: 8081, cidrBlocks: ["198.51.100.1/32"] },
          { fromPort: 22, cidrBlocks: ["0.0.0.0/0"] },
          { fromPort: 8080, ipv6CidrBlocks: ["::/0"] },
        ],
      };
      const found = check(noWorldOpenIngress, "aws:ec2/securityGroup:SecurityGroup", sg);
      assert.equal(found.length, 2);
      assert.match(
        found[0],
        /ingress rule 1 \(port 22\) admits "0\.0\.0\.0\/0": open it only to the gateways' peers/,
      );
      assert.match(found[1], /port 8080\) admits "::\/0"/);
      assert.equal(
        check(noWorldOpenIngress, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {
          cidrIpv4: "0.0.0.0/0",
        }).length,
        1,
      );
      assert.deepEqual(
        check(noWorldOpenIngress, "aws:ec2/securityGroupRule:SecurityGroupRule", {
          type: "egress",
          cidrBlocks: ["0.0.0.0/0"],
        }),
        [],
        "egress is not ingress",
      );
    });

    it("rejects GCP firewalls open to the world, including one with no source at all", () => {
      const fw = "gcp:compute/firewall:Firewall";
      assert.equal(check(noWorldOpenIngress, fw, { sourceRanges: ["0.0.0.0/0"] }).length, 1);
      assert.match(
        check(noWorldOpenIngress, fw, {})[0],
        /names no source, so GCP admits 0\.0\.0\.0\/0/,
      );
      assert.deepEqual(check(noWorldOpenIngress, fw, { sourceTags: ["skyplane"] }), []);
      assert.deepEqual(check(noWorldOpenIngress, fw, { direction: "EGRESS" }), []);
      assert.deepEqual(check(noWorldOpenIngress, fw, { sourceRanges: ["198.51.100.1/32"] }), []);
    });

    it("rejects Azure inbound allow rules from *, Internet or a /0, but not deny rules", () => {
      const nsg = {
        securityRules: [
          { name: "a", direction: "Inbound", access: "Allow", sourceAddressPrefix: "Internet" },
          {
            name: "b",
            direction: "Inbound",
            access: "Allow",
            sourceAddressPrefixes: ["10.0.0.1/32", "0.0.0.0/0"],
          },
          { name: "c", direction: "Inbound", access: "Deny", sourceAddressPrefix: "*" },
          { name: "d", direction: "Outbound", access: "Allow", sourceAddressPrefix: "*" },
        ],
      };
      const found = check(noWorldOpenIngress, "azure-native:network:NetworkSecurityGroup", nsg);
      assert.deepEqual(
        found.map((m) => m.split(" admits")[0]),
        ['security rule "a"', 'security rule "b"'],
      );
      assert.equal(
        check(noWorldOpenIngress, "azure-native:network:SecurityRule", {
          direction: "Inbound",
          access: "Allow",
          sourceAddressPrefix: "*",
        }).length,
        1,
      );
    });

    it("rejects a local gateway bound to every interface", () => {
      const [m] = check(noWorldOpenIngress, "skyplane:local:Gateway", { host: "0.0.0.0" });
      assert.match(m, /bind address admits "0\.0\.0\.0": bind it to loopback/);
      assert.deepEqual(
        check(noWorldOpenIngress, "skyplane:local:Gateway", { host: "127.0.0.1" }),
        [],
      );
    });
  });

  describe("no-wildcard-iam", () => {
    const doc = (statement: Record<string, unknown>) =>
      JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", ...statement }] });

    it("rejects AWS wildcard actions and resources but allows a bucket's objects", () => {
      assert.deepEqual(
        awsPolicyProblems(
          doc({ Sid: "Put", Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::dst/*"] }),
        ),
        [],
      );
      assert.deepEqual(
        awsPolicyProblems(doc({ Sid: "All", Action: "s3:*", Resource: "arn:aws:s3:::dst" })),
        ["statement All allows wildcard actions s3:*: list the exact actions"],
      );
      assert.deepEqual(
        awsPolicyProblems(doc({ Sid: "Any", Action: "s3:GetObject", Resource: "*" })),
        ["statement Any allows wildcard resources *: name the exact buckets and secrets"],
      );
      assert.equal(
        awsPolicyProblems(doc({ Action: "s3:GetObject", Resource: "arn:aws:s3:::skyplane-*/*" }))
          .length,
        1,
      );
      assert.equal(
        awsPolicyProblems(doc({ NotAction: "iam:*", Resource: "arn:aws:s3:::b" })).length,
        1,
      );
      assert.deepEqual(
        awsPolicyProblems(
          JSON.stringify({ Statement: [{ Effect: "Deny", Action: "*", Resource: "*" }] }),
        ),
        [],
        "a deny is never too broad",
      );
      assert.deepEqual(awsPolicyProblems("{not json"), ["the policy document is not valid JSON"]);
      assert.equal(
        check(noWildcardIam, "aws:iam/rolePolicy:RolePolicy", {
          policy: doc({ Action: "*", Resource: "*" }),
        }).length,
        2,
      );
      assert.equal(
        check(noWildcardIam, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", {
          policyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess",
        }).length,
        1,
      );
    });

    it("rejects GCP primitive roles and Azure owner roles or subscription-wide scopes", () => {
      assert.match(
        check(noWildcardIam, "gcp:projects/iAMMember:IAMMember", { role: "roles/editor" })[0],
        /grants roles\/editor: use a custom role/,
      );
      assert.deepEqual(
        check(noWildcardIam, "gcp:storage/bucketIAMMember:BucketIAMMember", {
          role: "projects/p/roles/r",
        }),
        [],
      );
      const owner =
        "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
      assert.deepEqual(
        check(noWildcardIam, "azure-native:authorization:RoleAssignment", {
          roleDefinitionId: owner,
          scope: "/subscriptions/s",
        }),
        [
          "assigns Owner: assign a data-plane role of exact actions",
          "is scoped to a whole subscription (/subscriptions/s): scope it to the exact container, secret or VM",
        ],
      );
      assert.equal(
        check(noWildcardIam, "azure-native:authorization:RoleDefinition", {
          permissions: [{ actions: ["*"] }],
        }).length,
        1,
      );
    });
  });

  describe("gateways-tagged and gateways-have-ttl", () => {
    const tags = {
      skyplane: "gateway",
      "skyplane:route": "r",
      "skyplane:dataplane": "d",
      "skyplane:expires": "x",
    };

    it("wants every gateway and gateway VM tagged with route, dataplane and expiry", () => {
      assert.deepEqual(check(gatewaysTagged, "skyplane:aws:Gateway", { tags }), []);
      assert.deepEqual(check(gatewaysTagged, "skyplane:local:Gateway", {}), [
        "the gateway lacks the tags skyplane, route, dataplane, expires",
      ]);
      assert.deepEqual(
        check(gatewaysTagged, "gcp:compute/instance:Instance", {
          labels: { skyplane: "gateway", "skyplane-route": "r" },
        }),
        ["the gateway lacks the labels dataplane, expires"],
      );
      assert.deepEqual(check(gatewaysTagged, "aws:s3/bucket:Bucket", {}), [], "not a gateway");
    });

    it("wants a TTL of 1 to a day on every gateway, AWS gateways that terminate and GCP ones Compute Engine deletes", () => {
      assert.deepEqual(check(gatewaysHaveTtl, "skyplane:gcp:Gateway", { ttlMinutes: 120 }), []);
      for (const ttl of [undefined, 0, -5, Number.NaN, "120"])
        assert.match(
          check(gatewaysHaveTtl, "skyplane:local:Gateway", { ttlMinutes: ttl })[0],
          /has no TTL/,
        );
      assert.match(
        check(gatewaysHaveTtl, "skyplane:azure:Gateway", { ttlMinutes: MAX_TTL_MINUTES + 1 })[0],
        /TTL of 1441 minutes is over 1440/,
      );
      assert.match(
        check(gatewaysHaveTtl, "aws:ec2/instance:Instance", {
          instanceInitiatedShutdownBehavior: "stop",
        })[0],
        /stop, not terminate/,
      );
      const gce = "gcp:compute/instance:Instance";
      for (const scheduling of [
        undefined,
        { terminationTime: "2026-11-27T14:00:00Z" },
        { terminationTime: "2026-11-27T14:00:00Z", instanceTerminationAction: "STOP" },
        { instanceTerminationAction: "DELETE" },
      ])
        assert.match(
          check(gatewaysHaveTtl, gce, { scheduling })[0] ?? "",
          /Compute Engine would not delete the gateway VM at its expiry: set scheduling/,
          JSON.stringify(scheduling),
        );
      for (const scheduling of [
        { terminationTime: "2026-11-27T14:00:00Z", instanceTerminationAction: "DELETE" },
        { maxRunDuration: { seconds: 7200 }, instanceTerminationAction: "DELETE" },
      ])
        assert.deepEqual(check(gatewaysHaveTtl, gce, { scheduling }), []);
    });
  });

  describe("gateway-disks-encrypted", () => {
    const vm = "aws:ec2/instance:Instance";

    it("rejects an AWS gateway whose root volume is not encrypted, and passes one that is", () => {
      for (const rootBlockDevice of [undefined, {}, { encrypted: false }, { encrypted: "true" }])
        assert.match(
          check(gatewayDisksEncrypted, vm, { rootBlockDevice })[0] ?? "",
          /root volume is not encrypted: set rootBlockDevice\.encrypted to true/,
          JSON.stringify(rootBlockDevice),
        );
      assert.deepEqual(
        check(gatewayDisksEncrypted, vm, {
          rootBlockDevice: { encrypted: true, volumeType: "gp3" },
        }),
        [],
      );
      assert.match(
        check(gatewayDisksEncrypted, vm, {
          rootBlockDevice: { encrypted: true },
          ebsBlockDevices: [{ deviceName: "/dev/sdf" }],
        })[0],
        /volume \/dev\/sdf is not encrypted/,
      );
      assert.deepEqual(
        check(gatewayDisksEncrypted, "gcp:compute/instance:Instance", {}),
        [],
        "GCP and Azure encrypt every disk at rest by default",
      );
    });
  });

  describe("no-public-storage", () => {
    it("rejects a public access block with any switch off, and public ACLs on buckets and objects", () => {
      const block = {
        bucket: "b",
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      };
      const pab = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock";
      assert.deepEqual(check(noPublicStorage, pab, block), []);
      assert.deepEqual(
        check(noPublicStorage, pab, {
          ...block,
          restrictPublicBuckets: false,
          blockPublicAcls: undefined,
        }),
        [
          "the bucket's public access block leaves blockPublicAcls, restrictPublicBuckets off: set each to true",
        ],
      );
      for (const type of [
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "aws:s3/bucketAclV2:BucketAclV2",
        "aws:s3/bucket:Bucket",
      ]) {
        assert.match(
          check(noPublicStorage, type, { acl: "public-read" }).join(),
          /ACL public-read opens it/,
          type,
        );
        assert.deepEqual(check(noPublicStorage, type, { acl: "private" }), [], type);
        assert.deepEqual(check(noPublicStorage, type, {}), [], type);
      }
    });

    it("rejects GCS buckets without public access prevention or with object ACLs, and grants to allUsers", () => {
      const bucket = "gcp:storage/bucket:Bucket";
      assert.deepEqual(
        check(noPublicStorage, bucket, {
          publicAccessPrevention: "enforced",
          uniformBucketLevelAccess: true,
        }),
        [],
      );
      assert.equal(
        check(noPublicStorage, bucket, {
          publicAccessPrevention: "inherited",
          uniformBucketLevelAccess: false,
        }).length,
        2,
      );
      const member = "gcp:storage/bucketIAMMember:BucketIAMMember";
      assert.match(
        check(noPublicStorage, member, {
          role: "roles/storage.objectViewer",
          member: "allUsers",
        }).join(),
        /grants allUsers/,
      );
      assert.match(
        check(noPublicStorage, "gcp:storage/bucketIAMBinding:BucketIAMBinding", {
          members: ["user:a@example.com", "allAuthenticatedUsers"],
        }).join(),
        /grants allAuthenticatedUsers/,
      );
      assert.match(
        check(noPublicStorage, "gcp:storage/objectAccessControl:ObjectAccessControl", {
          entity: "allUsers",
          role: "READER",
        }).join(),
        /grants allUsers/,
      );
      assert.match(
        check(noPublicStorage, "gcp:storage/bucketACL:BucketACL", {
          roleEntities: ["READER:allUsers"],
        }).join(),
        /grants allUsers/,
      );
      assert.deepEqual(
        check(noPublicStorage, member, { member: "serviceAccount:gw@p.iam.gserviceaccount.com" }),
        [],
      );
    });

    it("rejects Azure accounts that allow public blob access and containers open to the public", () => {
      assert.deepEqual(
        check(noPublicStorage, "azure-native:storage:StorageAccount", {
          allowBlobPublicAccess: false,
        }),
        [],
      );
      assert.match(
        check(noPublicStorage, "azure-native:storage:StorageAccount", {}).join(),
        /allows public blob access/,
        "Azure's default allows it",
      );
      assert.match(
        check(noPublicStorage, "azure-native:storage:BlobContainer", {
          publicAccess: "Blob",
        }).join(),
        /public access is Blob/,
      );
      assert.deepEqual(
        check(noPublicStorage, "azure-native:storage:BlobContainer", { publicAccess: "None" }),
        [],
      );
    });
  });

  it("passes everything the AWS, GCP, Azure and local components build", async function () {
    this.timeout(30_000);
    const { AwsDataplane } = await import("../../components/aws");
    const { GcpDataplane } = await import("../../components/gcp");
    const { AzureDataplane } = await import("../../components/azure");
    const { LocalDataplane } = await import("../../components/local");
    const model = buildModel();
    const common = {
      token: pulumi.secret("t"),
      key: pulumi.secret("k"),
      clientCidr: "203.0.113.7/32",
      expireAt: Date.UTC(2026, 10, 27, 14),
      bundle: testBundle(),
      nodeRuntime: NODE_RUNTIME,
      readBuckets: ["src"],
      writeBuckets: ["dst"],
    };
    const built: pulumi.ComponentResource[] = [
      new AwsDataplane("pol-aws", {
        ...common,
        topology: planDirect({ src: "aws:us-east-1", dsts: ["aws:us-west-2"] }, model),
        sshCidr: "203.0.113.7/32",
      }),
      new GcpDataplane("pol-gcp", {
        ...common,
        topology: planDirect({ src: "gcp:us-central1-a", dsts: ["gcp:europe-west1-b"] }, model),
        project: "p",
      }),
      new AzureDataplane("pol-azure", {
        ...common,
        topology: planDirect({ src: "azure:eastus", dsts: ["azure:westeurope"] }, model),
        ...AZURE_TEST_SETTINGS,
      }),
      new LocalDataplane("pol-local", {
        topology: planDirect({ src: "local:east", dsts: ["local:west"] }, model),
        token: pulumi.secret("t"),
        key: pulumi.secret("k"),
        home: "/nonexistent/skyplane-home",
      }),
    ];
    // Each cloud's resources, every one registered before any is checked.
    const counts = await Promise.all(built.map((root) => settled(root)));
    const mine = all.filter((r) => r.name.startsWith("pol-"));
    assert.deepEqual(
      ["aws", "gcp", "azure", "local"].map(
        (c) => mine.filter((r) => r.name.startsWith(`pol-${c}`)).length,
      ),
      counts,
      "every resource the components built is checked",
    );
    assert.ok(
      counts.every((n) => n > 1),
      `resources per cloud: ${counts.join(", ")}`,
    );
    const gateways = mine.filter((r) => /^skyplane:\w+:Gateway$/.test(r.type)).map((r) => r.type);
    assert.deepEqual([...new Set(gateways)].sort(), [
      "skyplane:aws:Gateway",
      "skyplane:azure:Gateway",
      "skyplane:gcp:Gateway",
      "skyplane:local:Gateway",
    ]);
    assert.equal(gateways.length, 8, "two gateways per cloud were checked");
    const buckets = mine.filter((r) =>
      [
        "aws:s3/bucket:Bucket",
        "gcp:storage/bucket:Bucket",
        "azure-native:storage:StorageAccount",
      ].includes(r.type),
    );
    assert.equal(buckets.length, 3, "each cloud's artifacts bucket was checked");
    const violations = mine.flatMap((r) =>
      RULES.flatMap((rule) =>
        rule
          .check({ type: r.type, props: r.inputs })
          .map((m) => `${r.name} (${r.type}) ${rule.name}: ${m}`),
      ),
    );
    assert.deepEqual(violations, []);
  });
});
