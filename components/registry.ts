import type * as pulumi from "@pulumi/pulumi";
import type { CloudDataplane, CloudDataplaneArgs } from "./cloud";
import type { Cloud, CloudSettings } from "../planner/cloud-settings";
import { SkyplaneError } from "../errors";

/*
 * Cloud → its components. Each cloud's folder registers itself here when it is loaded
 * (`components/<cloud>/index.ts`); the program of a multi-cloud route (multicloud.ts) builds each cloud's
 * dataplane through it, and nothing else matches on cloud names. A new cloud is a new folder that
 * registers itself, and a line in multicloud.ts that loads it.
 */

/** What a cloud's folder registers. */
export interface CloudComponents {
  /** The cloud (the topology's provider of its gateways). */
  readonly cloud: Cloud;
  /**
   * Its dataplane named `name`: the arguments every cloud takes, and what is this cloud's own taken from
   * the route's settings (which missingCloudSettings found complete).
   */
  dataplane(
    name: string,
    args: CloudDataplaneArgs,
    settings: CloudSettings,
    opts?: pulumi.ComponentResourceOptions,
  ): CloudDataplane;
}

const CLOUD_COMPONENTS = new Map<Cloud, CloudComponents>();

/** Registers a cloud's components (its folder's index.ts does, once). */
export function registerCloud(components: CloudComponents): void {
  CLOUD_COMPONENTS.set(components.cloud, components);
}

/** The components of `cloud`; throws if its folder was never loaded. */
export function cloudComponents(cloud: Cloud): CloudComponents {
  const found = CLOUD_COMPONENTS.get(cloud);
  if (!found)
    throw new SkyplaneError(
      "CLOUD_NOT_REGISTERED",
      `no components registered for ${cloud}: import components/${cloud} (clouds registered: ${[...CLOUD_COMPONENTS.keys()].join(", ") || "none"})`,
    );
  return found;
}
