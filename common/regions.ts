import { UserError } from "../errors";

/*
 * Region ids: `provider:name`, e.g. `local:east`, `aws:us-east-1`, `gcp:us-central1-a`, `azure:eastus`.
 * A GCP id names a zone (its gateways are placed in one); the region is the zone without its letter.
 * `parseRegion` is the one place that takes an id apart. Which ids exist is the planner's catalogue
 * (planner/catalogue.ts); this module knows only their shape and the clouds' own spellings.
 */

/** Providers skyplane knows. */
export const PROVIDERS = ["local", "aws", "gcp", "azure"] as const;

/** One of them. */
export type Provider = (typeof PROVIDERS)[number];

/** The parts of a region id. */
export interface RegionId {
  /** The id itself, `provider:name`. */
  readonly id: string;
  /** Its provider. */
  readonly provider: Provider;
  /** The provider's own name for it: `us-east-1`, `us-central1-a`, `westeurope`, `east`. */
  readonly name: string;
  /** The provider's region: the name without a GCP zone's letter (`us-central1`). */
  readonly region: string;
  /** The GCP zone (`us-central1-a`) when the name carries one. */
  readonly zone?: string;
}

/** The region where the client itself runs (plain folders, file:// URIs). */
export const CLIENT_REGION = "local:client";

const REGION_ID = /^([a-z]+):([a-z0-9-]+)$/;

/** A GCP zone: its region and a letter (`us-central1-a`). */
const GCP_ZONE = /^(.+)-([a-z])$/;

/**
 * Takes a region id apart. Throws a UserError (UNKNOWN_REGION) that says how to write one when `id` is
 * malformed or names no known provider; whether the region exists is the planner's catalogue's to say.
 */
export function parseRegion(id: string): RegionId {
  const m = REGION_ID.exec(id);
  if (!m) {
    throw new UserError(
      "UNKNOWN_REGION",
      `"${id}" is not a region id: write provider:region, e.g. local:east or aws:us-east-1`,
    );
  }
  const [, provider, name] = m;
  if (!isProvider(provider))
    throw new UserError(
      "UNKNOWN_REGION",
      `unknown provider "${provider}" in ${id}: use local, aws, gcp or azure`,
    );
  const zone = provider === "gcp" ? GCP_ZONE.exec(name) : null;
  return zone
    ? { id, provider, name, region: zone[1], zone: name }
    : { id, provider, name, region: name };
}

/** True when `name` is a provider skyplane knows. */
export function isProvider(name: string): name is Provider {
  return (PROVIDERS as readonly string[]).includes(name);
}

/** A region id as a stack-name part: `local:east` → `local-east`. */
export function regionSlug(id: string): string {
  return id.replace(":", "-");
}

/**
 * The region id of a bucket from its cloud's own location name: an S3 LocationConstraint (empty or null
 * for us-east-1, `EU` for eu-west-1), a GCS location (`US-CENTRAL1`, or a multi-region such as `US`),
 * or an Azure location (`westeurope`, `West Europe`). A GCS bucket's id names its location, never a
 * zone: the planner's `gatewayRegionFor` picks where its gateways go.
 */
export function locationRegion(
  provider: "aws" | "gcp" | "azure",
  location: string | null | undefined,
): string {
  const loc = (location ?? "").trim().toLowerCase();
  if (provider === "aws")
    return `aws:${loc === "" ? "us-east-1" : loc === "eu" ? "eu-west-1" : loc}`;
  if (provider === "gcp") return `gcp:${loc}`;
  return `azure:${loc.replace(/\s+/g, "")}`;
}
