/*
 * The tags every dataplane's resources carry, on every cloud: what the policy pack checks, what a bill
 * is broken down by, and what a leak sweep finds. Each cloud keeps its own key rules: AWS and the local
 * cloud take `skyplane:route`; GCP and Azure, whose keys take no colon, `skyplane-route` (GCP's labels
 * also limit their values: gcp/naming.ts).
 */

/** The separator of a cloud's tag keys. */
export type TagSeparator = ":" | "-";

/**
 * The skyplane tags of a dataplane's resources: route, dataplane and expiry under `skyplane<separator>`.
 * `expires` is epoch ms (written in ISO 8601) or the text to write.
 */
export function skyplaneTags(
  separator: TagSeparator,
  route: string,
  dataplane: string,
  expires: number | string,
): Record<string, string> {
  return {
    skyplane: "gateway",
    [`skyplane${separator}route`]: route,
    [`skyplane${separator}dataplane`]: dataplane,
    [`skyplane${separator}expires`]:
      typeof expires === "number" ? new Date(expires).toISOString() : expires,
  };
}
