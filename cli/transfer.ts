import type { Argv } from "yargs";
import { formatBytes, confirm, describePlan, progressBar } from "./render";
import { JobResult, SkyplaneClient } from "../runner";
import { readProfile } from "./profile-file";

/** Options shared by `cp` and `sync`. */
export interface TransferArgs {
  src: string;
  dst: string;
  y: boolean;
  json: boolean;
  nVms: number;
  profile?: string;
  followSymlinks: boolean;
}

/** The options `cp` and `sync` share. */
export function transferOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option("y", { type: "boolean", default: false, describe: "Do not ask for confirmation" })
    .option("json", {
      type: "boolean",
      default: false,
      describe: "Print the result as JSON, no progress bar",
    })
    .option("profile", {
      type: "string",
      describe: "Network profile (JSON): rehearse on a local cloud shaped like that WAN (root)",
    })
    .option("n-vms", {
      type: "number",
      default: 1,
      describe: "Gateways per region",
    })
    .option("follow-symlinks", {
      type: "boolean",
      default: false,
      describe: "Copy what symbolic links in a source folder point to (default: skip them)",
    }) as unknown as Argv<T>;
}

/** Plans, confirms, runs and reports a copy or a sync. */
export async function runTransferCommand(
  kind: "copy" | "sync",
  args: TransferArgs & { recursive?: boolean; delete?: boolean; dryRun?: boolean },
): Promise<void> {
  const network = readProfile(args.profile);
  const client = new SkyplaneClient({ network });
  const sync = kind === "sync";
  const req = {
    src: args.src,
    dst: args.dst,
    recursive: sync || (args.recursive ?? false),
    nVms: args.nVms,
    followSymlinks: args.followSymlinks,
  };
  const plan = await client.planCopy({ ...req, sync, delete: args.delete });
  const out = (s: string) => !args.json && process.stderr.write(s + "\n");
  // Warnings go to stderr even with --json: stdout stays one JSON document.
  for (const w of plan.warnings) process.stderr.write(`warning: ${w}\n`);
  if (plan.skippedLinks > 0) {
    process.stderr.write(
      `warning: skipped ${plan.skippedLinks} symbolic link(s) in the source (not copied); ` +
        "--follow-symlinks copies what they point to\n",
    );
  }
  out(describePlan(plan.topology, plan.objects, plan.bytes));
  if (plan.sync) {
    out(
      `Sync:     ${plan.sync.same} object(s) already the same, ${plan.sync.extra.length} extra at the destination` +
        (args.delete ? " (to delete after the copy)" : " (kept; --delete removes them)"),
    );
  }
  if (args.dryRun) {
    if (args.json)
      process.stdout.write(
        JSON.stringify({
          dryRun: true,
          objects: plan.objects,
          bytes: plan.bytes,
          skippedLinks: plan.skippedLinks,
          sync: plan.sync,
          topology: plan.topology,
        }) + "\n",
      );
    return;
  }
  if (plan.objects === 0 && !(args.delete && plan.sync?.extra.length)) {
    out("Nothing to do.");
    if (args.json)
      process.stdout.write(JSON.stringify({ objects: 0, bytes: 0, seconds: 0 }) + "\n");
    return;
  }
  if (!(await confirm("Provision the gateways and start?", args.y))) {
    out("Cancelled; nothing was provisioned.");
    return;
  }
  if (network) {
    const shaped = process.getuid?.() === 0;
    out(
      shaped
        ? "Network:  emulated WAN (namespaces, shaped links)"
        : "Network:  unshaped loopback: emulating a WAN needs root",
    );
  }
  out("Provisioning gateways…");
  const onProgress = args.json ? undefined : progressBar;
  const result: JobResult = sync
    ? await client.sync({ ...req, delete: args.delete, onProgress })
    : await client.copy({ ...req, onProgress });
  const mbps = result.seconds > 0 ? result.bytes / 1e6 / result.seconds : 0;
  if (args.json) {
    process.stdout.write(
      JSON.stringify({ ...result, throughputMBps: Number(mbps.toFixed(1)) }) + "\n",
    );
  } else {
    const deleted = result.deleted ? `, deleted ${result.deleted}` : "";
    process.stdout.write(
      `${sync ? "Synced" : "Copied"} ${result.objects} object(s), ${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s ` +
        `(${mbps.toFixed(1)} MB/s, ${((mbps * 8) / 1000).toFixed(3)} Gbit/s)${deleted}; verified, gateways torn down.\n`,
    );
  }
}
