import { UserError } from "../errors";

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

/** The longest a route may be kept warm: its gateways' TTL, which the guardrails cap at a day. */
export const MAX_KEEP_WARM_SECONDS = MAX_TTL_MINUTES * 60;

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/**
 * Seconds in a duration such as `10m`, `90s`, `1h30m` or `45` (seconds): a number with a unit (ms, s,
 * m, h), one or more times. Throws a UserError (BAD_DURATION) naming `what` for anything else.
 */
export function parseDuration(text: string, what = "a duration"): number {
  const s = text.trim();
  const bad = () =>
    new UserError(
      "BAD_DURATION",
      `${what} takes a duration such as 10m, 90s or 1h30m (a bare number is seconds), not '${text}'`,
    );
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const parts = [...s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== s) throw bad();
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_SECONDS[p[2]], 0);
}

/** Checks a keep-warm period in seconds: 0 (not warm) up to MAX_KEEP_WARM_SECONDS. */
export function checkKeepWarm(seconds: number, what = "keepWarmSeconds"): number {
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_KEEP_WARM_SECONDS) {
    throw new UserError(
      "BAD_DURATION",
      `${what} must be from 0 to ${MAX_KEEP_WARM_SECONDS / 3600} h (the gateways' longest TTL), not ${seconds} s`,
    );
  }
  return seconds;
}
