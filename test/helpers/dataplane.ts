import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalGateway, startLocalGateway } from "../../gateway-image/local";
import { Compression, GATEWAY_PROGRAM_VERSION, GatewayProgram } from "../../planner/program";
import { GatewayClient } from "../../runner/gateway-client";
import { LocalStore, localBucketRoot } from "../../stores";

/** A source and a destination gateway on loopback between two local buckets, for tests and benches. */
export interface TestDataplane {
  readonly home: string;
  readonly token: string;
  readonly src: LocalStore;
  readonly dst: LocalStore;
  readonly source: LocalGateway;
  readonly dest: LocalGateway;
  readonly client: GatewayClient;
  stop(): Promise<void>;
}

/** Options of `startDataplane`. */
export interface TestDataplaneOptions {
  readonly connections?: number;
  readonly compress?: Compression;
  readonly encrypt?: boolean;
  readonly home?: string;
  readonly sourceArgs?: string[];
  readonly destArgs?: string[];
  /** A module the destination gateway loads first (`node --require`), e.g. a store wrapper. */
  readonly wrapDestination?: string;
}

/** The program of gateway east-0: read local://src, send to west-0 at `port` on loopback. */
export function sourceProgram(
  port: number,
  opts: { connections?: number; compress?: Compression; encrypt?: boolean } = {},
): GatewayProgram {
  return {
    version: GATEWAY_PROGRAM_VERSION,
    gatewayId: "east-0",
    region: "local:east",
    operators: [
      {
        op: "read_object_store",
        bucket: "local://src",
        next: {
          op: "send",
          target: { gatewayId: "west-0", host: "127.0.0.1", port },
          connections: opts.connections ?? 4,
          compress: opts.compress ?? "none",
          encrypt: opts.encrypt ?? true,
        },
      },
    ],
  };
}

/** Creates buckets `src` (local:east) and `dst` (local:west), or reuses them in `home`, and starts a gateway for each. */
export async function startDataplane(opts: TestDataplaneOptions = {}): Promise<TestDataplane> {
  const home = opts.home ?? fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-dp-"));
  const token = crypto.randomBytes(24).toString("base64url");
  const key = crypto.randomBytes(32);
  const ctx = { home };
  const src = await LocalStore.createBucket("src", localBucketRoot(ctx, "src"), "local:east");
  const dst = await LocalStore.createBucket("dst", localBucketRoot(ctx, "dst"), "local:west");
  const dir = path.join(home, "gateways");
  const destProgram: GatewayProgram = {
    version: GATEWAY_PROGRAM_VERSION,
    gatewayId: "west-0",
    region: "local:west",
    operators: [
      {
        op: "receive",
        encrypted: opts.encrypt ?? true,
        next: { op: "write_object_store", bucket: "local://dst" },
      },
    ],
  };
  const nodeArgs = process.env.SKYPLANE_GATEWAY_NODE_ARGS;
  if (opts.wrapDestination)
    process.env.SKYPLANE_GATEWAY_NODE_ARGS = `${nodeArgs ?? ""} --require ${opts.wrapDestination}`;
  const dest = await startLocalGateway({
    program: destProgram,
    dir,
    token,
    key,
    home,
    extraArgs: opts.destArgs,
  }).finally(() => {
    if (nodeArgs === undefined) delete process.env.SKYPLANE_GATEWAY_NODE_ARGS;
    else process.env.SKYPLANE_GATEWAY_NODE_ARGS = nodeArgs;
  });
  const source = await startLocalGateway({
    program: sourceProgram(dest.info.dataPort as number, opts),
    dir,
    token,
    key,
    home,
    extraArgs: opts.sourceArgs,
  });
  const client = new GatewayClient(
    { gatewayId: "east-0", host: "127.0.0.1", controlPort: source.info.controlPort },
    token,
  );
  return {
    home,
    token,
    src,
    dst,
    source,
    dest,
    client,
    stop: async () => {
      await Promise.all([source.stop(), dest.stop()]);
      if (!opts.home) fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
