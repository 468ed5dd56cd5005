/*
 * How long gateways live. Every gateway ends itself after a TTL, whether or not a client is left to stop
 * it; a local gateway given a lease also ends when its client has been silent that long.
 */

/** Minutes a local gateway lives by default: long enough for a long transfer, and it still ends on its own. */
export const LOCAL_TTL_MINUTES = 12 * 60;

/** Default minutes from provisioning after which a cloud gateway ends. */
export const CLOUD_TTL_MINUTES = 120;

/** The longest TTL the guardrails (policy/rules.ts) allow any gateway: a day. */
export const MAX_TTL_MINUTES = 24 * 60;

/** Seconds gateways outlive a silent (crashed) client by default: the lease the runner renews. */
export const DEFAULT_LEASE_SECONDS = 120;
