import * as pulumi from "@pulumi/pulumi";
import { grantTopology, Topology } from "../planner/topology";
// Each cloud's folder registers its components as it loads.
import "./aws";
import "./azure";
import "./gcp";
import { gatewayBundle } from "../gateway-image/bundle";
import { NODE_RUNTIME } from "../gateway-image/node-runtime";
import type { CloudDataplaneArgs, GatewayBundleFile, GatewayEndpoint } from "./cloud";
import { cloudComponents } from "./registry";
import {
  bucketsOn,
  bucketUris,
  Cloud,
  CLOUDS,
  cloudsOf,
  CloudSettings,
  missingCloudSettings,
} from "../planner/cloud-settings";
import type { ProvisionedGateway } from "../planner/topology";

/**
 * Every gateway of a topology on AWS, GCP and Azure: one dataplane component per cloud, each given the
 * other clouds' gateway addresses (firewall peers and send targets), so a multi-cloud route is one stack.
 * Each cloud's gateways boot its stock image (unless the settings name one of yours) and fetch the
 * gateway bundle, which the stack uploads to an artifacts bucket of that cloud.
 */
export class CloudDataplanes extends pulumi.ComponentResource {
  /** Where the runner reaches each gateway, in topology order. */
  readonly gateways: pulumi.Output<ProvisionedGateway[]>;

  constructor(
    name: string,
    args: {
      topology: Topology;
      settings: CloudSettings;
      token: pulumi.Input<string>;
      key: pulumi.Input<string>;
      /** The gateway bundle; default the one `npm run build` made (built now if missing). */
      bundle?: GatewayBundleFile;
    },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("skyplane:cloud:Dataplanes", name, {}, opts);
    const { topology, settings } = args;
    const foreign = topology.gateways.filter(
      (g) => !(CLOUDS as readonly string[]).includes(g.provider),
    );
    if (foreign.length > 0)
      throw new pulumi.ResourceError(
        `gateways ${foreign.map((g) => g.id).join(", ")} are not on a cloud: a route cannot mix the local cloud and AWS, GCP or Azure`,
        this,
      );
    const missing = missingCloudSettings(topology, settings);
    if (missing.length > 0)
      throw new pulumi.ResourceError(
        `the stack config skyplane:cloud lacks ${missing.join(", ")}: set each with ` +
          `pulumi config set --path 'skyplane:cloud.${missing[0]}' VALUE (see stacks/README.md)`,
        this,
      );
    const common = {
      // Each gateway may touch only the buckets of the queued jobs (as URIs, as requests name them).
      topology: grantTopology(topology, {
        read: bucketUris(settings.buckets.read),
        write: bucketUris(settings.buckets.write),
      }),
      token: args.token,
      key: args.key,
      clientCidr: settings.clientCidr,
      expireAt: settings.expireAt,
      ttlMinutes: settings.ttlMinutes,
      sshCidr: settings.sshCidr,
      bundle: args.bundle ?? gatewayBundle(),
      nodeRuntime: NODE_RUNTIME,
    };
    const byId = (eps: pulumi.Output<GatewayEndpoint[]>) =>
      eps.apply((list) => Object.fromEntries(list.map((g) => [g.id, g.host])));
    const clouds = cloudsOf(topology);
    // Each cloud needs the others' addresses, which exist only once they are allocated: deferred outputs
    // break the cycle (addresses never depend on firewalls or programs, so there is no real one).
    const deferred = new Map(
      clouds.map((c) => [c, pulumi.deferredOutput<Record<string, string>>()]),
    );
    const remotePeers = (cloud: Cloud) => {
      const others = clouds
        .filter((c) => c !== cloud)
        .map((c) => deferred.get(c)?.[0] as pulumi.Output<Record<string, string>>);
      return pulumi
        .all(others)
        .apply((maps) => Object.assign({}, ...maps) as Record<string, string>);
    };
    const endpoints: pulumi.Output<GatewayEndpoint[]>[] = [];
    for (const cloud of clouds) {
      const cloudArgs: CloudDataplaneArgs = {
        ...common,
        remotePeers: remotePeers(cloud),
        readBuckets: bucketsOn(cloud, settings.buckets.read),
        writeBuckets: bucketsOn(cloud, settings.buckets.write),
      };
      const dp = cloudComponents(cloud).dataplane(`${name}-${cloud}`, cloudArgs, settings, {
        parent: this,
      });
      deferred.get(cloud)?.[1](byId(dp.gateways));
      endpoints.push(dp.gateways);
    }
    this.gateways = pulumi.all(endpoints).apply((lists) => {
      const hosts = new Map(lists.flat().map((e) => [e.id, e]));
      return topology.gateways.map((spec) => {
        const e = hosts.get(spec.id) as GatewayEndpoint;
        return {
          id: spec.id,
          region: spec.region,
          source: spec.program.operators.some((o) => o.op === "read_object_store"),
          host: e.host,
          controlPort: e.controlPort,
          dataPort: e.dataPort,
          logFile: `the serial console of ${spec.id} (${spec.region})`,
        };
      });
    });
    this.registerOutputs({ gateways: this.gateways });
  }
}
