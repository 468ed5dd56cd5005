import * as pulumi from "@pulumi/pulumi";
import { BucketGrants, bindProgram, sendTargets } from "../../planner/program";
import {
  grantTopology,
  ProvisionedGateway,
  provisioningOrder,
  routeStackName,
  Topology,
} from "../../planner/topology";
import type { NetworkProfile } from "../../planner/profile";
import { LOCAL_TTL_MINUTES } from "../../common/ttl";
import { skyplaneTags } from "../naming";
import { LocalGateway } from "./gateway";
import { LocalNetwork, networkTag, planNetwork } from "./network";

/** Arguments of a dataplane on the local cloud. */
export interface LocalDataplaneArgs {
  /** The planned topology; every gateway must be on the local cloud. */
  topology: Topology;
  /** The dataplane token (a secret). */
  token: pulumi.Input<string>;
  /** The dataplane key, base64 (a secret). */
  key: pulumi.Input<string>;
  /** The skyplane home. */
  home: pulumi.Input<string>;
  /** Folder of gateway logs; default `<home>/logs`. */
  logDir?: pulumi.Input<string | undefined>;
  /** Epoch ms at which gateways exit on their own (keep-warm TTL); default never. */
  expireAt?: pulumi.Input<number | undefined>;
  /** Minutes from its start after which each gateway exits on its own. Default LOCAL_TTL_MINUTES. */
  ttlMinutes?: number;
  /** Seconds of silence from the client after which each gateway exits on its own; default never. */
  leaseSeconds?: number;
  /** Address the gateways bind; default 127.0.0.1. */
  host?: pulumi.Input<string>;
  /** Emulate this WAN with network namespaces and shaped links (needs root); default loopback. */
  network?: NetworkProfile;
  /** Environment the gateways' stores need (endpoints, credentials); keep it a secret. */
  storeEnv?: pulumi.Input<Record<string, string> | undefined>;
  /** Bucket URIs the gateways may read and write (the queued jobs'); default none: all refused. */
  buckets?: BucketGrants;
}

/**
 * Every gateway of a topology as a local process. Receivers are started first, so that each sender's
 * program can be bound to the data ports its targets actually listen on.
 */
export class LocalDataplane extends pulumi.ComponentResource {
  /** One entry per gateway, in topology order. */
  readonly gateways: pulumi.Output<ProvisionedGateway[]>;

  constructor(name: string, args: LocalDataplaneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:local:Dataplane", name, {}, opts);
    const foreign = args.topology.gateways.filter((g) => g.provider !== "local");
    if (foreign.length > 0) {
      throw new pulumi.ResourceError(
        `the local dataplane cannot run gateways on ${[...new Set(foreign.map((g) => g.provider))].join(", ")}`,
        this,
      );
    }
    let placement: Record<string, { ns: string; ip: string }> | undefined;
    let network: LocalNetwork | undefined;
    if (args.network) {
      const missing = args.topology.gateways.filter(
        (g) => !args.network?.regions.includes(g.region),
      );
      if (missing.length > 0) {
        throw new pulumi.ResourceError(
          `the network profile has no region ${[...new Set(missing.map((g) => g.region))].join(", ")}`,
          this,
        );
      }
      const plan = planNetwork(args.network, args.topology.gateways, networkTag(pulumi.getStack()));
      network = new LocalNetwork(`${name}-network`, { plan }, { parent: this });
      placement = plan.gateways;
    }
    const ttlMinutes = args.ttlMinutes ?? LOCAL_TTL_MINUTES;
    const route = routeStackName(args.topology.route.src, args.topology.route.dsts);
    const tags = pulumi
      .output(args.expireAt)
      .apply((expireAt) =>
        skyplaneTags(":", route, name, expireAt ?? `${ttlMinutes} minutes after start`),
      );
    const built = new Map<string, LocalGateway>();
    const granted = grantTopology(args.topology, args.buckets ?? { read: [], write: [] });
    for (const spec of provisioningOrder(granted)) {
      const targets = sendTargets(spec.program);
      const addresses = pulumi
        .all(targets.map((t) => pulumi.all([built.get(t)?.host, built.get(t)?.dataPort])))
        .apply((pairs) =>
          Object.fromEntries(
            targets.map((t, i) => [
              t,
              { host: pairs[i][0] as string, port: pairs[i][1] as number },
            ]),
          ),
        );
      built.set(
        spec.id,
        new LocalGateway(
          `${name}-${spec.id}`,
          {
            program: addresses.apply((a) => bindProgram(spec.program, a)),
            token: args.token,
            key: args.key,
            home: args.home,
            logDir: args.logDir,
            host: placement?.[spec.id]?.ip ?? args.host,
            netns: placement?.[spec.id]?.ns,
            storeEnv: args.storeEnv,
            expireAt: args.expireAt,
            ttlMinutes,
            leaseSeconds: args.leaseSeconds,
            tags,
          },
          { parent: this, dependsOn: network ? [network] : [] },
        ),
      );
    }
    this.gateways = pulumi.all(
      args.topology.gateways.map((spec) => {
        const g = built.get(spec.id) as LocalGateway;
        return pulumi
          .all([g.host, g.controlPort, g.dataPort, g.logFile])
          .apply(([host, controlPort, dataPort, logFile]) => ({
            id: spec.id,
            region: spec.region,
            source: spec.program.operators.some((o) => o.op === "read_object_store"),
            host,
            controlPort,
            dataPort,
            logFile,
          }));
      }),
    );
    this.registerOutputs({ gateways: this.gateways });
  }
}
