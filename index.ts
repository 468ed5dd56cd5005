import * as pulumi from "@pulumi/pulumi";
import { skyplaneHome } from "./common/paths";
import { LocalDataplane } from "./components/local";
import type { CloudSettings } from "./planner/cloud-settings";
import { emulatedNetwork } from "./planner/profile";
import type { BucketGrants } from "./planner/program";
import type { ProvisionedGateway, Topology } from "./planner/topology";

/**
 * The Pulumi program of a route's stack. The Automation API runs it inline; `pulumi up --stack <route>`
 * runs the compiled copy (dist/index.js) through the language host. Its config:
 *   skyplane:topology   the planned Topology (JSON), materialised as gateways
 *   skyplane:token      the dataplane token (secret)
 *   skyplane:key        the dataplane AES-256 key, base64 (secret)
 *   skyplane:expireAt   epoch ms at which keep-warm gateways exit on their own (optional)
 *   skyplane:ttlMinutes minutes after which each gateway exits on its own (default 720)
 *   skyplane:leaseSeconds seconds of silence from the client after which a local gateway exits on its
 *                       own, not before expireAt (the runner sets it; default never, for stacks by hand)
 *   skyplane:home       the skyplane home the gateways use (default $SKYPLANE_HOME or ~/.skyplane)
 *   skyplane:logDir     where gateway logs go (default <home>/logs)
 *   skyplane:storeEnv   endpoints and credentials of cloud stores for the gateways (secret, optional)
 *   skyplane:network    a network profile: emulate that WAN with namespaces and shaped links (root only)
 *   skyplane:cloud      what gateways on AWS, GCP and Azure need (CloudSettings in planner/cloud-settings.ts)
 *   skyplane:buckets    { read, write }: the bucket URIs local gateways may touch (the runner sets it from
 *                       the queued jobs; without it every request naming a bucket is refused)
 * The runner hands the token, key and store environment to the program itself (`given`), so that they
 * never go through an engine run of their own; an operator running the program by hand sets them as
 * config. Either way they reach the gateways as secrets, encrypted in the state.
 */
async function program(given?: {
  /** The dataplane token. */
  readonly token: string;
  /** The dataplane key, base64. */
  readonly key: string;
  /** Endpoints and credentials of cloud stores for local gateways. */
  readonly storeEnv?: Record<string, string>;
  /** Called with the gateways once they are up (the runner reads them here, not from the stack). */
  readonly onGateways?: (gateways: ProvisionedGateway[]) => void;
}): Promise<Record<string, unknown>> {
  const config = new pulumi.Config("skyplane");
  const token = given ? pulumi.secret(given.token) : config.requireSecret("token");
  const key = given ? pulumi.secret(given.key) : config.requireSecret("key");
  const home = config.get("home") ?? skyplaneHome();
  const outputs: Record<string, unknown> = {};

  const topology = config.getObject<Topology>("topology");
  if (topology && topology.gateways.some((g) => g.provider !== "local")) {
    // Loaded only for cloud routes: the cloud SDKs are large, and local stacks never need them.
    const { CloudDataplanes } = await import("./components/multicloud");
    const dataplane = new CloudDataplanes("dataplane", {
      topology,
      settings: config.requireObject<CloudSettings>("cloud"),
      token,
      key,
    });
    outputs.gateways = dataplane.gateways;
  } else if (topology) {
    const dataplane = new LocalDataplane("dataplane", {
      topology,
      token,
      key,
      home,
      logDir: config.get("logDir"),
      network: emulatedNetwork(config.getObject("network")),
      storeEnv: given
        ? pulumi.secret(given.storeEnv ?? {})
        : config.getSecretObject<Record<string, string>>("storeEnv"),
      expireAt: config.getNumber("expireAt"),
      ttlMinutes: config.getNumber("ttlMinutes"),
      buckets: config.getObject<BucketGrants>("buckets"),
      leaseSeconds: config.getNumber("leaseSeconds"),
    });
    outputs.gateways = dataplane.gateways;
  }
  if (given?.onGateways && outputs.gateways) {
    const hand = given.onGateways;
    (outputs.gateways as pulumi.Output<ProvisionedGateway[]>).apply((g) => hand(g));
  }
  return outputs;
}

// `export =`: the language host's runner calls a CommonJS module's export when it is a function (a
// `default` export would be taken for an output named "default"); the Automation API imports it too.
export = program;
