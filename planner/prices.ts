import { parseRegion } from "../common/regions";
import { CatalogueRegion } from "./catalogue";
import { SkyplaneError } from "../errors";

/*
 * Default price tables: public list prices, USD, first pricing tier, Linux on-demand, as published in
 * 2022-11 (the date of the measured throughput grid they are used with). Regional VM price differences
 * are ignored (the us-east-1 / us-central1 / eastus price is used everywhere). A measured price matrix
 * (`--prices FILE`, columns src,dest,cost) replaces the egress rules pair by pair.
 */

/**
 * AWS data transfer out, per GB, by source region: to another AWS region, and to the internet (which is
 * how traffic to another cloud is billed). Source: aws.amazon.com/ec2/pricing/on-demand, "Data Transfer",
 * 2022-11. us-east-1 ↔ us-east-2 is billed at $0.01.
 */
const AWS_EGRESS: Record<string, { region: number; internet: number }> = {
  "af-south-1": { region: 0.147, internet: 0.154 },
  "ap-east-1": { region: 0.09, internet: 0.12 },
  "ap-northeast-1": { region: 0.09, internet: 0.114 },
  "ap-northeast-2": { region: 0.08, internet: 0.126 },
  "ap-northeast-3": { region: 0.09, internet: 0.114 },
  "ap-south-1": { region: 0.086, internet: 0.1093 },
  "ap-southeast-1": { region: 0.09, internet: 0.12 },
  "ap-southeast-2": { region: 0.098, internet: 0.114 },
  "ap-southeast-3": { region: 0.1, internet: 0.132 },
  "me-central-1": { region: 0.11, internet: 0.11 },
  "me-south-1": { region: 0.1105, internet: 0.117 },
  "sa-east-1": { region: 0.138, internet: 0.15 },
};
const AWS_DEFAULT = { region: 0.02, internet: 0.09 }; // us-*, ca-central-1, eu-*

/**
 * Google Cloud Premium Tier, per GB. Source: cloud.google.com/vpc/network-pricing, 2022-11: between
 * regions of one continent (North America $0.01, Europe $0.02, Asia $0.05, others $0.08), between
 * continents $0.08 ($0.15 from Oceania), and to the internet $0.12 ($0.19 from Oceania).
 */
const GCP_INTRA: Record<string, number> = { NA: 0.01, EU: 0.02, AS: 0.05 };

/**
 * Azure bandwidth, per GB. Source: azure.microsoft.com/pricing/details/bandwidth, 2022-11: between
 * regions of one continent $0.02 (North America, Europe) or $0.08 (elsewhere; $0.16 from South America),
 * between continents $0.05 from North America and Europe, $0.08 from elsewhere ($0.16 from South
 * America); to the internet $0.087 (North America, Europe), $0.12 (Asia, Oceania, Middle East, Africa),
 * $0.181 (South America).
 */
function azureEgress(src: CatalogueRegion, dst: CatalogueRegion): number {
  const zone1 = src.continent === "NA" || src.continent === "EU";
  if (dst.provider !== "azure") return zone1 ? 0.087 : src.continent === "SA" ? 0.181 : 0.12;
  if (src.continent === "SA") return 0.16;
  if (src.continent === dst.continent) return zone1 ? 0.02 : 0.08;
  return zone1 ? 0.05 : 0.08;
}

function awsEgress(src: CatalogueRegion, dst: CatalogueRegion): number {
  const name = parseRegion(src.id).name;
  const rates = AWS_EGRESS[name] ?? AWS_DEFAULT;
  if (dst.provider !== "aws") return rates.internet;
  const pair = [name, parseRegion(dst.id).name].sort().join(" ");
  return pair === "us-east-1 us-east-2" ? 0.01 : rates.region;
}

function gcpEgress(src: CatalogueRegion, dst: CatalogueRegion): number {
  if (dst.provider !== "gcp") return src.continent === "OC" ? 0.19 : 0.12;
  if (src.continent === dst.continent) return GCP_INTRA[src.continent] ?? 0.08;
  return src.continent === "OC" ? 0.15 : 0.08;
}

/** Egress price in USD per GB from `src` to `dst` by the published list prices (0 inside a region). */
export function listEgressPerGB(src: CatalogueRegion, dst: CatalogueRegion): number {
  if (src.id === dst.id || src.provider === "local") return 0;
  // GCP zones of one region (us-central1-a, us-central1-b) are one region for billing.
  if (
    src.provider === "gcp" &&
    dst.provider === "gcp" &&
    parseRegion(src.id).region === parseRegion(dst.id).region
  )
    return 0;
  switch (src.provider) {
    case "aws":
      return awsEgress(src, dst);
    case "gcp":
      return gcpEgress(src, dst);
    case "azure":
      return azureEgress(src, dst);
    default: {
      const never: never = src.provider;
      throw new SkyplaneError("UNREACHABLE", `no prices for ${String(never)}`);
    }
  }
}

/** A gateway VM class. */
export interface VmClass {
  /** The provider's name for it. */
  readonly name: string;
  /** Its provider. */
  readonly provider: "aws" | "gcp" | "azure" | "local";
  /** vCPUs (what quotas count). */
  readonly vcpus: number;
  /** On-demand price, USD per hour. */
  readonly pricePerHour: number;
}

/**
 * Gateway VM classes, largest first. Prices: AWS m5 $0.048/vCPU-hour (m5.8xlarge $1.536, us-east-1),
 * GCP n2-standard $0.04856/vCPU-hour (n2-standard-32 $1.554, us-central1), Azure Dv5 $0.048/vCPU-hour
 * (Standard_D32_v5 $1.536, eastus): on-demand list prices, 2022-11. Skyplane's own planner assumed
 * $0.54/hour (m5.8xlarge spot); on-demand is what a user without spot capacity pays.
 */
export const VM_CLASSES: readonly VmClass[] = [
  ...[32, 16, 8, 4].map((v) => ({
    name: v === 4 ? "m5.xlarge" : `m5.${v / 4}xlarge`,
    provider: "aws" as const,
    vcpus: v,
    pricePerHour: 0.048 * v,
  })),
  ...[32, 16, 8, 4].map((v) => ({
    name: `n2-standard-${v}`,
    provider: "gcp" as const,
    vcpus: v,
    pricePerHour: 0.04856 * v,
  })),
  ...[32, 16, 8, 4].map((v) => ({
    name: `Standard_D${v}_v5`,
    provider: "azure" as const,
    vcpus: v,
    pricePerHour: 0.048 * v,
  })),
  { name: "process", provider: "local", vcpus: 1, pricePerHour: 0 },
];
