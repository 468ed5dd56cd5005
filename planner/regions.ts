import { parseRegion, RegionId } from "../common/regions";
import { CATALOGUE, catalogueRegion } from "./catalogue";
import { SkyplaneError } from "../errors";

/*
 * Which regions exist: the catalogue (catalogue.ts) lists every region skyplane can plan. The shape of
 * a region id and the clouds' own spellings are common/regions.ts; the local cloud's regions are fixed
 * names on this machine, `local:client` the machine the client runs on (where plain folders live).
 */

/** Regions of the embedded local cloud. */
export const LOCAL_REGIONS: readonly string[] = CATALOGUE.filter((r) => r.provider === "local").map(
  (r) => r.id,
);

/** A region id that is not known; the message lists valid ones. */
export class UnknownRegionError extends SkyplaneError<"UNKNOWN_REGION"> {
  constructor(message: string, options?: { cause?: unknown }) {
    super("UNKNOWN_REGION", message, options);
  }
}

/** Parses a region id and checks it against the catalogue; throws UnknownRegionError naming valid ones. */
export function knownRegion(id: string): RegionId {
  let region: RegionId;
  try {
    region = parseRegion(id);
  } catch (err) {
    throw new UnknownRegionError((err as Error).message, { cause: err });
  }
  if (catalogueRegion(id)) return region;
  const { provider } = region;
  const same = CATALOGUE.filter((r) => r.provider === provider).map((r) => r.id);
  const shown =
    same.length > 8 ? `${same.slice(0, 8).join(", ")}, … (${same.length} in all)` : same.join(", ");
  throw new UnknownRegionError(
    provider === "local"
      ? `unknown region ${id}: the local cloud has ${shown}`
      : `unknown region ${id}: ${provider} regions are ${shown}`,
  );
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
 * The catalogue region whose gateways serve a bucket in region `id` (as a store reports it, see
 * common/regions.ts `locationRegion`): `id` itself when the catalogue lists it, else, for a GCP region,
 * its first zone, and for a GCS multi-region (`gcp:us`), the first zone of its first member. Undefined
 * when skyplane has no gateways there (or `id` is no region id).
 */
export function gatewayRegionFor(id: string): string | undefined {
  if (catalogueRegion(id)) return id;
  let region: RegionId;
  try {
    region = parseRegion(id);
  } catch {
    return undefined;
  }
  if (region.provider !== "gcp" || region.zone) return undefined;
  const served = GCS_MULTI_REGIONS[region.region] ?? region.region;
  // Catalogue ids of GCP are zones: the region's first zone stands for it.
  const zones = CATALOGUE.filter((r) => r.provider === "gcp" && parseRegion(r.id).region === served)
    .map((r) => r.id)
    .sort();
  return zones[0];
}
