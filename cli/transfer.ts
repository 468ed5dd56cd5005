import type { Argv } from "yargs";
import { formatBytes, confirm, describePlan, progressBar } from "./render";
import { checkKeepWarm, parseDuration } from "../common/ttl";
import {
  DEFAULT_LEASE_SECONDS,
  JobResult,
  NetworkProfile,
  planJson,
  runsAsChildren,
  SkyplaneClient,
  TransferPlan,
  UserError,
} from "../runner";
import { readProfile } from "./profile-file";

/** Every place `cp` and `sync` read and write, for their --help. */
export const LOCATIONS =
  "s3://BUCKET/KEY, gs://BUCKET/KEY, azure://ACCOUNT/CONTAINER/KEY, local://BUCKET/KEY, or a folder or file";

/** The forms of LOCATIONS, one line each (the --help epilog of `cp` and `sync`). */
const LOCATION_FORMS = [
  "Sources and destinations:",
  "  s3://BUCKET/KEY                 Amazon S3 (or S3-compatible: AWS_ENDPOINT_URL_S3)",
  "  gs://BUCKET/KEY                 Google Cloud Storage",
  "  azure://ACCOUNT/CONTAINER/KEY   Azure Blob Storage (also as its https://…blob URL)",
  "  local://BUCKET/KEY              a bucket of the local cloud (made with skyplane mb)",
  "  ./folder, /path/file            a folder or file on this machine (also file:///PATH)",
].join("\n");

/** Options shared by `cp` and `sync`. */
export interface TransferArgs {
  src: string;
  dst: string;
  y: boolean;
  json: boolean;
  nVms: number;
  profile?: string;
  leaseSeconds?: number;
  keepWarm?: string;
  followSymlinks: boolean;
  dryRun: boolean;
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
    })
    .option("dry-run", {
      type: "boolean",
      default: false,
      describe:
        "Print the plan (route, gateways, objects, bytes, estimate) and exit; provision and change nothing",
    })
    .option("lease-seconds", {
      type: "number",
      describe: `Seconds the gateways outlive this command if it dies (default ${DEFAULT_LEASE_SECONDS})`,
    })
    .option("keep-warm", {
      type: "string",
      describe:
        "Keep the route's gateways up this long (e.g. 10m, 1h) for later runs, which then start in well under a second; 'skyplane deprovision' ends them sooner",
    })
    .epilog(LOCATION_FORMS)
    .check((a) => {
      const lease = (a as { leaseSeconds?: number }).leaseSeconds;
      if (lease !== undefined && !(lease > 0))
        throw new UserError("BAD_LEASE", "--lease-seconds takes a positive number of seconds");
      keepWarmSeconds(a as { keepWarm?: string });
      return true;
    }) as unknown as Argv<T>;
}

/** The seconds of `--keep-warm`, 0 without it; a bad duration is a UserError (BAD_DURATION). */
function keepWarmSeconds(args: { keepWarm?: string }): number {
  if (args.keepWarm === undefined) return 0;
  return checkKeepWarm(parseDuration(args.keepWarm, "--keep-warm"), "--keep-warm");
}

/**
 * Turns the first SIGINT or SIGTERM into an abort of the transfer (which then aborts its uploads and
 * releases the gateways: the command exits 130), and a second one into an exit that skips the teardown
 * and prints the command that does it.
 */
function onInterrupt(
  stack: string,
  onClientAlone: boolean,
): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      process.stderr.write(
        `\n${sig}: stopping the transfer, aborting its uploads and tearing down the gateways ` +
          `(${sig === "SIGINT" ? "Ctrl-C" : sig} again skips the teardown)…\n`,
      );
      controller.abort();
      return;
    }
    process.stderr.write(
      onClientAlone
        ? `${sig}: teardown skipped; the gateways on this machine end with this command\n`
        : `${sig}: teardown skipped; the gateways of ${stack} stop on their own once they miss this client, ` +
            `or now with: skyplane deprovision -y ${stack}\n`,
    );
    process.exit(130);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}

/** Prints a plan: the route's topology, what it moves, and what the user should know. */
async function printPlan(
  plan: TransferPlan,
  args: { json: boolean; dryRun?: boolean; followSymlinks: boolean; delete?: boolean },
  network: NetworkProfile | undefined,
): Promise<void> {
  // Warnings go to stderr even with --json: stdout stays one JSON document.
  for (const w of plan.warnings) process.stderr.write(`warning: ${w}\n`);
  if (plan.skippedLinks > 0) {
    process.stderr.write(
      `warning: skipped ${plan.skippedLinks} symbolic link(s) in the source (not copied); ` +
        (args.followSymlinks
          ? "links that lead out of the source folder, or round a cycle, are never followed (gateways read only inside it): copy their targets directly\n"
          : "--follow-symlinks copies what they point to inside the source folder\n"),
    );
  }
  if (args.json) {
    if (args.dryRun)
      process.stdout.write(JSON.stringify({ dryRun: true, ...(await planJson(plan)) }) + "\n");
    return;
  }
  // A dry run's plan is its result (stdout); otherwise it is what the confirmation asks about.
  const write = (s: string) => (args.dryRun ? process.stdout : process.stderr).write(s + "\n");
  write(describePlan(plan.topology, plan.estimate));
  // A folder and a cloud bucket: the client's gateways reach the bucket over its API (runsOnClient).
  for (const end of [plan.src, plan.dst]) {
    if (end.gateways !== end.region)
      write(`Reaches:  ${end.uri} (${end.region}) from the gateways in ${end.gateways}`);
  }
  write(
    runsAsChildren(plan.topology, network)
      ? "Stack:    none: the gateways run on this machine, as children of this command"
      : `Stack:    ${plan.stackName}`,
  );
  if (plan.sync) {
    write(
      `Sync:     ${plan.sync.same} object(s) already the same, ${plan.sync.extra.length} extra at the destination` +
        (args.delete ? " (to delete after the copy)" : " (kept; --delete removes them)"),
    );
  }
  if (args.dryRun) write("Dry run: nothing was provisioned, copied or deleted.");
}

/** The one plan of a copy or sync, from the command's arguments. */
function planFor(
  kind: "copy" | "sync",
  args: Omit<TransferArgs, "y" | "leaseSeconds"> & { recursive?: boolean; delete?: boolean },
  client: SkyplaneClient,
): Promise<TransferPlan> {
  return client.planCopy({
    src: args.src,
    dst: args.dst,
    recursive: args.recursive,
    nVms: args.nVms,
    followSymlinks: args.followSymlinks,
    sync: kind === "sync",
    delete: args.delete,
  });
}

/** Plans and prints a copy or sync (`cp --dry-run`, `skyplane plan SRC DST`); provisions nothing. */
export async function printTransferPlan(
  kind: "copy" | "sync",
  args: Omit<TransferArgs, "y" | "leaseSeconds"> & { recursive?: boolean; delete?: boolean },
): Promise<void> {
  const network = readProfile(args.profile);
  const plan = await planFor(kind, args, new SkyplaneClient({ network }));
  try {
    await printPlan(plan, { ...args, dryRun: true }, network);
  } finally {
    await plan[Symbol.asyncDispose]();
  }
}

/** Plans, confirms, runs and reports a copy or a sync. */
export async function runTransferCommand(
  kind: "copy" | "sync",
  args: TransferArgs & { recursive?: boolean; delete?: boolean },
): Promise<void> {
  if (args.dryRun) return printTransferPlan(kind, args);
  const network = readProfile(args.profile);
  const client = new SkyplaneClient({ network });
  const plan = await planFor(kind, args, client);
  try {
    await printPlan(plan, args, network);
    await runPlan(plan, client, args, network);
  } finally {
    await plan[Symbol.asyncDispose]();
  }
}

async function runPlan(
  plan: TransferPlan,
  client: SkyplaneClient,
  args: TransferArgs & { delete?: boolean },
  network: NetworkProfile | undefined,
): Promise<void> {
  const out = (s: string) => !args.json && process.stderr.write(s + "\n");
  if (plan.estimate.objects === 0 && !(args.delete && plan.sync?.extra.length)) {
    out("Nothing to do.");
    if (args.json)
      process.stdout.write(
        JSON.stringify({
          objects: 0,
          bytes: 0,
          seconds: 0,
          stack: plan.stackName,
          estimate: plan.estimate,
          costUSD: 0,
        }) + "\n",
      );
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
  const onClientAlone = runsAsChildren(plan.topology, network);
  if (onClientAlone && keepWarmSeconds(args) > 0)
    out(
      "--keep-warm: nothing to keep; the gateways on this machine start with each command in a moment",
    );
  out(
    onClientAlone
      ? "Starting gateways on this machine…"
      : keepWarmSeconds(args) > 0
        ? "Provisioning gateways (or taking the route's warm ones)…"
        : "Provisioning gateways…",
  );
  const onProgress = args.json ? undefined : progressBar;
  const interrupt = onInterrupt(plan.stackName, onClientAlone);
  let result: JobResult;
  try {
    result = await client.run(plan, {
      onProgress,
      signal: interrupt.signal,
      leaseSeconds: args.leaseSeconds,
      keepWarmSeconds: keepWarmSeconds(args),
    });
  } finally {
    interrupt.dispose();
  }
  const mbps = result.seconds > 0 ? result.bytes / 1e6 / result.seconds : 0;
  if (args.json) {
    process.stdout.write(
      JSON.stringify({ ...result, throughputMBps: Number(mbps.toFixed(1)) }) + "\n",
    );
  } else {
    const deleted = result.deleted ? `, deleted ${result.deleted}` : "";
    const p = result.provision;
    const provisioned = !p
      ? ""
      : p.how === "warm"
        ? ` Used the route's warm gateways (${p.seconds.toFixed(2)} s).`
        : p.how === "shared"
          ? ` Shared the gateways of a job running on the route (${p.seconds.toFixed(2)} s).`
          : p.how === "children"
            ? ` Gateways started on this machine in ${p.seconds.toFixed(2)} s.`
            : ` Provisioned in ${p.seconds.toFixed(1)} s.`;
    const gateways = result.warmUntil
      ? `gateways kept warm until ${result.warmUntil} ('skyplane deprovision -y ${plan.stackName}' ends them)`
      : "gateways torn down";
    process.stdout.write(
      `${plan.kind === "sync" ? "Synced" : "Copied"} ${result.objects} object(s), ${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s ` +
        `(${mbps.toFixed(1)} MB/s, ${((mbps * 8) / 1000).toFixed(3)} Gbit/s)${deleted}; verified, ${gateways}.${provisioned}\n`,
    );
  }
}
