import type { Provider } from "../common/regions";

/*
 * Regions skyplane can plan, with where they are. Coordinates are those of the metro area each
 * provider names for the region (AWS "Regions and Availability Zones", Google Cloud "Regions and
 * zones", Azure "Azure geographies" pages, read 2022-11); they feed the distance → round-trip-time
 * estimate, so a city is precise enough. GCP ids carry the zone that gateways are placed in, as in
 * Skyplane's measurements.
 */

/** Continents, as the egress price tables group regions. */
export type Continent = "NA" | "SA" | "EU" | "AS" | "OC" | "ME" | "AF" | "local";

/** One region of the catalogue. */
export interface CatalogueRegion {
  /** `provider:name`. */
  readonly id: string;
  /** Its provider. */
  readonly provider: Provider;
  /** Continent (price zone). */
  readonly continent: Continent;
  /** Latitude, degrees. */
  readonly lat: number;
  /** Longitude, degrees. */
  readonly lon: number;
}

type Row = [string, Continent, number, number];

const AWS: Row[] = [
  ["af-south-1", "AF", -33.92, 18.42],
  ["ap-east-1", "AS", 22.32, 114.17],
  ["ap-northeast-1", "AS", 35.68, 139.69],
  ["ap-northeast-2", "AS", 37.57, 126.98],
  ["ap-northeast-3", "AS", 34.69, 135.5],
  ["ap-south-1", "AS", 19.08, 72.88],
  ["ap-southeast-1", "AS", 1.35, 103.82],
  ["ap-southeast-2", "OC", -33.87, 151.21],
  ["ap-southeast-3", "AS", -6.21, 106.85],
  ["ca-central-1", "NA", 45.5, -73.57],
  ["eu-central-1", "EU", 50.11, 8.68],
  ["eu-central-2", "EU", 47.38, 8.54],
  ["eu-north-1", "EU", 59.33, 18.07],
  ["eu-south-1", "EU", 45.46, 9.19],
  ["eu-south-2", "EU", 41.65, -0.88],
  ["eu-west-1", "EU", 53.35, -6.26],
  ["eu-west-2", "EU", 51.51, -0.13],
  ["eu-west-3", "EU", 48.86, 2.35],
  ["me-central-1", "ME", 24.45, 54.38],
  ["me-south-1", "ME", 26.07, 50.56],
  ["sa-east-1", "SA", -23.55, -46.63],
  ["us-east-1", "NA", 39.04, -77.49],
  ["us-east-2", "NA", 39.96, -83.0],
  ["us-west-1", "NA", 37.35, -121.96],
  ["us-west-2", "NA", 45.84, -119.7],
];

const GCP: Row[] = [
  ["asia-east1-a", "AS", 24.07, 120.54],
  ["asia-east2-a", "AS", 22.32, 114.17],
  ["asia-northeast1-a", "AS", 35.68, 139.69],
  ["asia-northeast2-a", "AS", 34.69, 135.5],
  ["asia-northeast3-a", "AS", 37.57, 126.98],
  ["asia-south1-a", "AS", 19.08, 72.88],
  ["asia-south2-a", "AS", 28.61, 77.21],
  ["asia-southeast1-a", "AS", 1.35, 103.82],
  ["asia-southeast2-a", "AS", -6.21, 106.85],
  ["australia-southeast1-a", "OC", -33.87, 151.21],
  ["australia-southeast2-a", "OC", -37.81, 144.96],
  ["europe-central2-a", "EU", 52.23, 21.01],
  ["europe-north1-a", "EU", 60.57, 27.19],
  ["europe-west1-b", "EU", 50.45, 3.82],
  ["europe-west2-a", "EU", 51.51, -0.13],
  ["europe-west3-a", "EU", 50.11, 8.68],
  ["europe-west4-a", "EU", 53.44, 6.83],
  ["europe-west6-a", "EU", 47.38, 8.54],
  ["me-west1-a", "ME", 32.09, 34.78],
  ["northamerica-northeast1-a", "NA", 45.5, -73.57],
  ["northamerica-northeast2-a", "NA", 43.65, -79.38],
  ["southamerica-east1-a", "SA", -23.55, -46.63],
  ["southamerica-west1-a", "SA", -33.45, -70.67],
  ["us-central1-a", "NA", 41.26, -95.86],
  ["us-east1-b", "NA", 33.2, -80.0],
  ["us-east4-a", "NA", 39.04, -77.49],
  ["us-west1-a", "NA", 45.6, -121.18],
  ["us-west4-a", "NA", 36.17, -115.14],
];

const AZURE: Row[] = [
  ["australiaeast", "OC", -33.86, 151.21],
  ["brazilsouth", "SA", -23.55, -46.63],
  ["canadacentral", "NA", 43.65, -79.38],
  ["centralindia", "AS", 18.52, 73.86],
  ["eastasia", "AS", 22.27, 114.19],
  ["eastus", "NA", 36.67, -78.39],
  ["eastus2", "NA", 36.67, -78.39],
  ["francecentral", "EU", 48.86, 2.35],
  ["germanywestcentral", "EU", 50.11, 8.68],
  ["japaneast", "AS", 35.68, 139.69],
  ["koreacentral", "AS", 37.57, 126.98],
  ["northcentralus", "NA", 41.88, -87.63],
  ["northeurope", "EU", 53.35, -6.26],
  ["norwayeast", "EU", 59.91, 10.75],
  ["qatarcentral", "ME", 25.29, 51.53],
  ["southafricanorth", "AF", -26.2, 28.05],
  ["southcentralus", "NA", 29.42, -98.49],
  ["swedencentral", "EU", 60.67, 17.14],
  ["switzerlandnorth", "EU", 47.38, 8.54],
  ["uaenorth", "ME", 25.27, 55.3],
  ["uksouth", "EU", 51.51, -0.13],
  ["westeurope", "EU", 52.37, 4.9],
  ["westus", "NA", 37.78, -122.42],
  ["westus2", "NA", 47.23, -119.85],
  ["westus3", "NA", 33.45, -112.07],
];

/** Regions of the embedded local cloud: one machine, so no distance between them. */
const LOCAL: string[] = ["east", "west", "north", "south", "central", "client"];

const rows = (provider: Provider, list: Row[]): CatalogueRegion[] =>
  list.map(([name, continent, lat, lon]) => ({
    id: `${provider}:${name}`,
    provider,
    continent,
    lat,
    lon,
  }));

/** Every region skyplane knows, sorted by id. */
export const CATALOGUE: readonly CatalogueRegion[] = [
  ...rows("aws", AWS),
  ...rows("gcp", GCP),
  ...rows("azure", AZURE),
  ...LOCAL.map((name) => ({
    id: `local:${name}`,
    provider: "local" as const,
    continent: "local" as const,
    lat: 0,
    lon: 0,
  })),
].sort((a, b) => a.id.localeCompare(b.id));

const BY_ID = new Map(CATALOGUE.map((r) => [r.id, r]));

/** The catalogue entry of `id`, or undefined. */
export function catalogueRegion(id: string): CatalogueRegion | undefined {
  return BY_ID.get(id);
}

/** Great-circle distance between two regions in km (haversine, mean Earth radius 6371 km). */
export function distanceKm(a: CatalogueRegion, b: CatalogueRegion): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}
