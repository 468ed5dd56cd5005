/*
 * Region ids are `provider:name`: `local:east`, `aws:us-east-1`, `gcp:us-central1-a`, `azure:eastus`.
 * The local cloud's regions are fixed names on this machine; `local:client` is the machine the client
 * runs on (where plain folders live). Cloud catalogues come with the cloud planners.
 */

/** Providers skyplane knows. */
export type Provider = "local" | "aws" | "gcp" | "azure";

/** A region of a provider. */
export interface Region {
  /** `provider:name`. */
  readonly id: string;
  /** Its provider. */
  readonly provider: Provider;
  /** The provider's own name for it. */
  readonly name: string;
}

/** Regions of the embedded local cloud. */
export const LOCAL_REGIONS: readonly string[] = [
  "local:east",
  "local:west",
  "local:north",
  "local:south",
  "local:central",
  "local:client",
];

/** The region where the client itself runs (plain folders, file:// URIs). */
export const CLIENT_REGION = "local:client";

/** A region id that is not known; the message lists the valid ones. */
export class UnknownRegionError extends Error {
  override name = "UnknownRegionError";
}

/** Parses and checks a region id; throws UnknownRegionError naming the known regions. */
export function parseRegion(id: string): Region {
  const m = /^([a-z]+):([a-z0-9-]+)$/.exec(id);
  if (!m) {
    throw new UnknownRegionError(
      `"${id}" is not a region id: write provider:region, e.g. local:east or aws:us-east-1`,
    );
  }
  const provider = m[1] as Provider;
  if (provider === "local") {
    if (!LOCAL_REGIONS.includes(id)) {
      throw new UnknownRegionError(
        `unknown region ${id}: the local cloud has ${LOCAL_REGIONS.join(", ")}`,
      );
    }
    return { id, provider, name: m[2] };
  }
  if (provider === "aws" || provider === "gcp" || provider === "azure") {
    throw new UnknownRegionError(
      `${id}: ${provider} regions cannot be planned yet; this version plans the local cloud (${LOCAL_REGIONS.join(", ")})`,
    );
  }
  throw new UnknownRegionError(`unknown provider "${m[1]}" in ${id}: use local, aws, gcp or azure`);
}

/** A region id as a stack-name part: `local:east` → `local-east`. */
export function regionSlug(id: string): string {
  return id.replace(":", "-");
}
