import { UserError } from "../errors";
import program from "../index";
import { isSameProcess, liveStartTime } from "../components/local";
import { sdkWarnings } from "../stores/s3/sdk-warning";
import { providerPlugins } from "./cloud";
import { Engine, policyPackDir } from "./engine";

/** What the engine self-check measured. */
export interface EngineCheckResult {
  /** The engine's version. */
  readonly version: string;
  /** Stack the check used. */
  readonly stack: string;
  /** Pid of the process that `up` started. */
  readonly pid: number;
  /** Seconds taken by `up`, the no-change `up` and `destroy`. */
  readonly seconds: { readonly up: number; readonly reuse: number; readonly destroy: number };
  /** The guardrails' policy pack that ran on `up` (name@version). */
  readonly guardrails: string;
  /** Per cloud: its provider plugin, whether the engine has it, and how to install it. */
  readonly providers: Awaited<ReturnType<typeof providerPlugins>>;
  /** What the cloud SDKs warn of on this Node, which other commands keep off the terminal. */
  readonly sdkWarnings: string[];
}

const CHECK_STACK = "skyplane-engine-check";

/**
 * Proves the engine end to end on this machine: `up` starts a local process through the dynamic
 * provider under the guardrails' policy pack, a second `up` changes nothing, `destroy` stops the process
 * and empties the stack. Also reports which clouds' provider plugins the engine has.
 */
export async function checkEngine(
  engine: Engine,
  onOutput?: (line: string) => void,
): Promise<EngineCheckResult> {
  const stack = await engine.stack(CHECK_STACK, program);
  await stack.setConfig("skyplane:processes", {
    value: JSON.stringify({
      probe: { command: [process.execPath, "-e", "setInterval(() => {}, 1 << 30)"] },
    }),
  });
  const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
    const start = process.hrtime.bigint();
    const result = await fn();
    return [result, Number(process.hrtime.bigint() - start) / 1e9];
  };
  try {
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
    const pid = (up.outputs.pids?.value as Record<string, number> | undefined)?.probe;
    const startTime = pid === undefined ? undefined : liveStartTime(pid);
    if (pid === undefined || startTime === undefined) {
      throw new UserError("ENGINE_CHECK_FAILED", "`up` succeeded but its process is not running");
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
    if (isSameProcess(pid, startTime)) {
      throw new UserError("ENGINE_CHECK_FAILED", `\`destroy\` left process ${pid} running`);
    }
    return {
      version: engine.version,
      stack: CHECK_STACK,
      pid,
      seconds: { up: upSeconds, reuse: reuseSeconds, destroy: destroySeconds },
      guardrails,
      providers: await providerPlugins(() => stack.workspace.listPlugins(), {
        pulumiHome: engine.home.pulumiHome,
        cli: engine.cli,
      }),
      sdkWarnings: sdkWarnings(),
    };
  } finally {
    await stack.destroy({ color: "never" }).catch(() => undefined);
    await stack.workspace.removeStack(CHECK_STACK).catch(() => undefined);
  }
}
