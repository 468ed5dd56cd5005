import * as fs from "node:fs";
import * as readline from "node:readline";
import { parseProfile, SkyplaneClient } from "../runner";

/*
 * Skyplane's side of bench/peers' WAN case, as a command of its own: what `skyplane cp SRC DST -r -y`
 * does (SkyplaneClient.copy: plan, queue, provision, transfer, deprovision) through the public API, with one pause after the
 * gateways are up, for the benchmark to link its storage namespaces to the route's routers (which exist
 * only from then on). The benchmark subtracts the pause from the command's wall clock.
 *
 *   node peers-wan-ours.js SRC DST PROFILE_JSON
 *
 * stdout: {"event":"provisioned","stack":…}, then, after any line on stdin, {"event":"done",…}.
 */

async function main(): Promise<void> {
  const [src, dst, profileFile] = process.argv.slice(2);
  const network = parseProfile(JSON.parse(fs.readFileSync(profileFile, "utf8")));
  const client = new SkyplaneClient({ network });
  // As SkyplaneClient.copy does: one plan, queued as it stands, on its route's dataplane.
  await using plan = await client.planCopy({ src, dst, recursive: true });
  const dp = client.dataplaneFor(plan.topology);
  if (dp.network !== "shaped") throw new Error(`the network is ${dp.network}: run as root`);
  dp.queuePlan(plan);
  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  // As `skyplane cp`: SIGINT or SIGTERM stops the transfer, and the gateways are torn down.
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const aborted = new Promise<never>((_, reject) =>
    abort.signal.addEventListener("abort", () => reject(new Error("interrupted"))),
  );
  aborted.catch(() => undefined);
  const result = await dp.autoDeprovision(async () => {
    await dp.provision();
    process.stdout.write(JSON.stringify({ event: "provisioned", stack: dp.stackName }) + "\n");
    await Promise.race([lines.next(), aborted]);
    return (await dp.run({ signal: abort.signal }))[0];
  });
  process.stdout.write(
    JSON.stringify({
      event: "done",
      objects: result.objects,
      bytes: result.bytes,
      seconds: result.seconds,
    }) + "\n",
  );
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
