import * as crypto from "node:crypto";
import { isSameProcess } from "../common/process";
import { UserError } from "../errors";
import { planDirect } from "../planner/direct";
import { buildModel } from "../planner/model";
import type { ProvisionedGateway } from "../planner/topology";
import { sdkWarnings } from "../stores/s3/sdk-warning";
import { CLOUDS, Cloud } from "../planner/cloud-settings";
import { providerPlugins } from "./cloud";
import { credentialSource, HOW_TO_SIGN_IN, localProbe } from "./credentials";
import { Engine, policyPackDir } from "./engine";
import { GatewayClient } from "./gateway-client";
import { stopStrayGateways, strayGateways } from "./stacks";

/** What the engine self-check measured. */
export interface EngineCheckResult {
  /** The engine's version. */
  readonly version: string;
  /** Stack the check used. */
  readonly stack: string;
  /** Pid of the gateway daemon that `up` started. */
  readonly pid: number;
  /** Seconds taken by `up`, the no-change `up` and `destroy`. */
  readonly seconds: { readonly up: number; readonly reuse: number; readonly destroy: number };
  /** The guardrails' policy pack that ran on `up` (name@version). */
  readonly guardrails: string;
  /** Per cloud: its provider plugin, whether the engine has it, and how to install it. */
  readonly providers: Awaited<ReturnType<typeof providerPlugins>>;
  /**
   * Per cloud: where its credentials come from on this machine (`source`, absent when none is seen) and
   * how to sign in. With them and the plugin, a route on that cloud needs no other setup but
   * SKYPLANE_CLIENT_CIDR: gateways boot the cloud's stock image.
   */
  readonly credentials: Record<Cloud, { source?: string; how: string }>;
  /** What the cloud SDKs warn of on this Node, which other commands keep off the terminal. */
  readonly sdkWarnings: string[];
}

const CHECK_STACK = "skyplane-engine-check";

/** The region of the check's one gateway (a same-region route: one gateway reads and writes). */
const CHECK_REGION = "local:east";

/** Minutes the check's gateway lives at most, should the check itself be killed before `destroy`. */
const CHECK_TTL_MINUTES = 10;

/**
 * Proves the engine end to end on this machine with what a transfer provisions: `up` of skyplane's
 * program (index.ts) starts one local gateway through the dynamic provider, under the guardrails'
 * policy pack, and the gateway answers its control API; a second `up` changes nothing; `destroy` stops
 * the gateway and empties the stack. Also reports which clouds' provider plugins the engine has.
 */
export async function checkEngine(
  engine: Engine,
  onOutput?: (line: string) => void,
): Promise<EngineCheckResult> {
  const topology = planDirect({ src: CHECK_REGION, dsts: [CHECK_REGION], nVms: 1 }, buildModel());
  const token = crypto.randomBytes(32).toString("base64url");
  const stack = await engine.stack(CHECK_STACK);
  const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
    const start = process.hrtime.bigint();
    const result = await fn();
    return [result, Number(process.hrtime.bigint() - start) / 1e9];
  };
  try {
    await stack.setAllConfig({
      "skyplane:topology": { value: JSON.stringify(topology) },
      "skyplane:ttlMinutes": { value: String(CHECK_TTL_MINUTES) },
    });
    // Secrets reach the engine on its standard input, never on a command line.
    await engine.setSecret(CHECK_STACK, "skyplane:token", token);
    await engine.setSecret(CHECK_STACK, "skyplane:key", crypto.randomBytes(32).toString("base64"));
    let output = "";
    const [up, upSeconds] = await timed(() =>
      stack.up({
        onOutput: (line) => {
          output += line;
          onOutput?.(line);
        },
        color: "never",
        policyPacks: [policyPackDir()],
      }),
    );
    const guardrails = /Policies:[\s\S]*?(skyplane-guardrails@v[\w.]+)/.exec(output)?.[1];
    if (!guardrails)
      throw new UserError(
        "ENGINE_CHECK_FAILED",
        "`up` did not run the guardrails' policy pack (policy/): rebuild with `npm run build`, and rerun `bash scripts/setup-pulumi.sh` for a language host that runs policy packs",
      );
    const [gateway] = (up.outputs.gateways?.value as ProvisionedGateway[] | undefined) ?? [];
    const [daemon] = strayGateways(engine.home.root, CHECK_STACK);
    if (!gateway || !daemon) {
      throw new UserError("ENGINE_CHECK_FAILED", "`up` succeeded but its gateway is not running");
    }
    const client = new GatewayClient(
      { gatewayId: gateway.id, host: gateway.host, controlPort: gateway.controlPort },
      token,
    );
    try {
      await client.status();
    } finally {
      client.close();
    }
    const [again, reuseSeconds] = await timed(() => stack.up({ onOutput, color: "never" }));
    const changed = Object.entries(again.summary.resourceChanges ?? {}).filter(
      ([op]) => op !== "same",
    );
    if (changed.length > 0) {
      throw new UserError(
        "ENGINE_CHECK_FAILED",
        `a second \`up\` changed ${JSON.stringify(changed)}`,
      );
    }
    const [, destroySeconds] = await timed(() => stack.destroy({ onOutput, color: "never" }));
    if (isSameProcess(daemon.pid, daemon.startTime)) {
      throw new UserError("ENGINE_CHECK_FAILED", `\`destroy\` left gateway ${daemon.pid} running`);
    }
    return {
      version: engine.version,
      stack: CHECK_STACK,
      pid: daemon.pid,
      seconds: { up: upSeconds, reuse: reuseSeconds, destroy: destroySeconds },
      guardrails,
      providers: await providerPlugins(() => stack.workspace.listPlugins(), {
        pulumiHome: engine.home.pulumiHome,
        cli: engine.cli,
      }),
      credentials: cloudCredentials(process.env),
      sdkWarnings: sdkWarnings(),
    };
  } finally {
    await stack.destroy({ color: "never" }).catch(() => undefined);
    await stack.workspace.removeStack(CHECK_STACK).catch(() => undefined);
    await stopStrayGateways(engine.home.root, CHECK_STACK).catch(() => undefined);
  }
}

/** Where each cloud's credentials come from on this machine, and how to sign in to it. */
export function cloudCredentials(env: NodeJS.ProcessEnv): EngineCheckResult["credentials"] {
  const probe = localProbe(env);
  return Object.fromEntries(
    CLOUDS.map((c) => {
      const source = credentialSource(c, probe);
      return [c, source ? { source, how: HOW_TO_SIGN_IN[c] } : { how: HOW_TO_SIGN_IN[c] }];
    }),
  ) as EngineCheckResult["credentials"];
}
