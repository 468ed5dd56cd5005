import type { ArgumentsCamelCase, Argv } from "yargs";
import { checkEngine, Engine } from "../../runner";

/** `skyplane check`: proves the Pulumi engine by taking a local stack up and down. */
export const command = "check";
/** One line for --help. */
export const describe =
  "Check the Pulumi engine and the guardrails: start a local gateway through a stack, then destroy it; list each cloud's provider plugin and credentials";

interface CheckArgs {
  json: boolean;
  verbose: boolean;
}

/** Options of `skyplane check`. */
export function builder(y: Argv): Argv<CheckArgs> {
  return y
    .option("json", {
      type: "boolean",
      default: false,
      describe: "Print the result as one JSON line",
    })
    .option("verbose", {
      alias: "v",
      type: "boolean",
      default: false,
      describe: "Show the engine output",
    });
}

/** Runs the check and prints what it measured. */
export async function handler(args: ArgumentsCamelCase<CheckArgs>): Promise<void> {
  const engine = await Engine.open();
  const onOutput = args.verbose ? (s: string) => process.stderr.write(s) : undefined;
  if (!args.json)
    process.stdout.write(`Pulumi engine v${engine.version}, home ${engine.home.root}\n`);
  const result = await checkEngine(engine, onOutput);
  if (args.json) {
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  const s = result.seconds;
  process.stdout.write(
    `up: started a gateway (pid ${result.pid}), which answers, in ${s.up.toFixed(1)} s\n` +
      `up again: no changes (${s.reuse.toFixed(1)} s)\n` +
      `destroy: gateway stopped, stack empty (${s.destroy.toFixed(1)} s)\n` +
      `guardrails: ${result.guardrails} ran on up\n` +
      "The engine works.\n",
  );
  for (const [cloud, p] of Object.entries(result.providers)) {
    process.stdout.write(
      p.installed
        ? `${cloud}: provider plugin ${p.plugin} ${p.version} installed\n`
        : `${cloud}: no provider plugin (needed for gateways on ${cloud}): ${p.install}\n`,
    );
    const c = result.credentials[cloud as keyof typeof result.credentials];
    process.stdout.write(
      c.source
        ? `${cloud}: credentials from ${c.source}\n`
        : `${cloud}: no credentials found (needed for gateways on ${cloud}): ${c.how}\n`,
    );
  }
  process.stdout.write(
    "Cloud gateways boot each cloud's stock Ubuntu LTS image: no image to build. Set SKYPLANE_CLIENT_CIDR to your public address.\n",
  );
  // Shown here only: other commands keep the SDKs' warnings off the terminal.
  for (const warning of result.sdkWarnings)
    process.stdout.write(
      `AWS SDK warning (other commands do not show it):\n${warning.replace(/^(?=.)/gm, "  ")}\n`,
    );
}
