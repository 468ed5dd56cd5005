import * as fs from "node:fs";
import type { ArgumentsCamelCase, Argv } from "yargs";
import { deriveProfile, parseGridCsv, UserError } from "../../runner";

/** `skyplane profile derive`: a network profile for the local cloud from a measured grid. */
export const command = "profile derive";
/** One line for --help. */
export const describe =
  "Derive a network profile (local regions shaped like measured ones) from a throughput grid";

interface ProfileArgs {
  grid: string;
  map: string;
  scale: number;
  egressGbps: number;
  ingressGbps: number;
}

/** Options of `skyplane profile derive`. */
export function builder(y: Argv): Argv<ProfileArgs> {
  return y
    .option("grid", {
      type: "string",
      demandOption: true,
      describe: "Measured grid CSV (Skyplane's format)",
    })
    .option("map", {
      type: "string",
      demandOption: true,
      describe:
        "Measured region = local region, comma-separated, e.g. aws:us-east-1=local:east,aws:eu-west-1=local:west",
    })
    .option("scale", {
      type: "number",
      default: 0.01,
      describe: "Multiply rates by this (0.01: 5 Gbit/s → 50 Mbit/s)",
    })
    .option("egress-gbps", {
      type: "number",
      default: 5,
      describe: "Gateway egress cap before scaling",
    })
    .option("ingress-gbps", {
      type: "number",
      default: 10,
      describe: "Gateway ingress cap before scaling",
    }) as unknown as Argv<ProfileArgs>;
}

/** Prints the profile as JSON. */
export async function handler(args: ArgumentsCamelCase<ProfileArgs>): Promise<void> {
  const mapping: Record<string, string> = {};
  for (const pair of args.map.split(",")) {
    const [from, to] = pair.split("=").map((s) => s.trim());
    if (!from || !to) throw new UserError("BAD_MAP", `--map entry "${pair}" is not measured=local`);
    mapping[from] = to;
  }
  let text: string;
  try {
    text = fs.readFileSync(args.grid, "utf8");
  } catch (err) {
    throw new UserError(
      "UNREADABLE",
      `cannot read the throughput grid ${args.grid}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    const profile = deriveProfile(parseGridCsv(text), mapping, args.scale, {
      egressGbps: args.egressGbps,
      ingressGbps: args.ingressGbps,
    });
    process.stdout.write(JSON.stringify(profile, null, 2) + "\n");
  } catch (err) {
    throw new UserError("BAD_PROFILE", (err as Error).message, { cause: err });
  }
}
