import { CATALOGUE, catalogueRegion } from "./catalogue";
import { SkyplaneError } from "../errors";

/*
 * Region ids are `provider:name`: `local:east`, `aws:us-east-1`, `gcp:us-central1-a`, `azure:eastus`.
 * The local cloud's regions are fixed names on this machine; `local:client` is the machine the client
 * runs on (where plain folders live). The catalogue (catalogue.ts) lists every region.
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
export const LOCAL_REGIONS: readonly string[] = CATALOGUE.filter((r) => r.provider === "local").map(
  (r) => r.id,
);

/** The region where the client itself runs (plain folders, file:// URIs). */
export const CLIENT_REGION = "local:client";

/** A region id that is not known; the message lists valid ones. */
export class UnknownRegionError extends SkyplaneError<"UNKNOWN_REGION"> {
  constructor(message: string) {
    super("UNKNOWN_REGION", message);
  }
}

/** Parses and checks a region id against the catalogue; throws UnknownRegionError naming valid ones. */
export function parseRegion(id: string): Region {
  const m = /^([a-z]+):([a-z0-9-]+)$/.exec(id);
  if (!m) {
    throw new UnknownRegionError(
      `"${id}" is not a region id: write provider:region, e.g. local:east or aws:us-east-1`,
    );
  }
  const known = catalogueRegion(id);
  if (known) return { id, provider: known.provider, name: m[2] };
  const same = CATALOGUE.filter((r) => r.provider === m[1]).map((r) => r.id);
  if (same.length === 0)
    throw new UnknownRegionError(
      `unknown provider "${m[1]}" in ${id}: use local, aws, gcp or azure`,
    );
  const shown =
    same.length > 8 ? `${same.slice(0, 8).join(", ")}, … (${same.length} in all)` : same.join(", ");
  throw new UnknownRegionError(
    m[1] === "local"
      ? `unknown region ${id}: the local cloud has ${shown}`
      : `unknown region ${id}: ${m[1]} regions are ${shown}`,
  );
}

/** A region id as a stack-name part: `local:east` → `local-east`. */
export function regionSlug(id: string): string {
  return id.replace(":", "-");
}

/** GCS multi- and dual-regions, by the region whose gateways serve them best (their first member). */
const GCS_MULTI_REGIONS: Record<string, string> = {
  us: "us-central1",
  nam4: "us-central1",
  eu: "europe-west1",
  eur4: "europe-west4",
  eur5: "europe-west2",
  eur7: "europe-west2",
  eur8: "europe-west3",
  asia: "asia-east1",
  asia1: "asia-northeast1",
};

/**
 * The catalogue region of a bucket from its cloud's own location name: an S3 LocationConstraint (empty
 * or null for us-east-1, `EU` for eu-west-1), a GCS location (`US-CENTRAL1`, or a multi-region such as
 * `US`), or an Azure location (`westeurope`). Undefined when the catalogue has no such region.
 */
export function bucketRegion(
  provider: "aws" | "gcp" | "azure",
  location: string | null | undefined,
): string | undefined {
  const loc = (location ?? "").trim().toLowerCase();
  let id: string;
  if (provider === "aws") {
    id = `aws:${loc === "" ? "us-east-1" : loc === "eu" ? "eu-west-1" : loc}`;
  } else if (provider === "gcp") {
    // Catalogue ids of GCP are zones: the region's first zone stands for it.
    const region = GCS_MULTI_REGIONS[loc] ?? loc;
    const zones = CATALOGUE.filter((r) => r.provider === "gcp" && r.id.startsWith(`gcp:${region}-`))
      .map((r) => r.id)
      .sort();
    return zones[0];
  } else {
    id = `azure:${loc.replace(/\s+/g, "")}`;
  }
  return catalogueRegion(id) ? id : undefined;
}
