import * as pulumi from "@pulumi/pulumi";
import { RULES } from "../policy/rules";
import { SkyplaneError } from "../errors";

/** `value` with every secret the engine marks (`isRpcSecret`) replaced by its plain value. */
function unwrapSecrets(value: unknown): unknown {
  if (pulumi.runtime.isRpcSecret(value))
    return unwrapSecrets(pulumi.runtime.unwrapRpcSecret(value));
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (typeof value === "object" && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
  return value;
}

/**
 * The guardrails (policy/rules.ts) as a resource transform of the engine: it sees each resource's type
 * and resolved inputs (secrets unwrapped), as a policy pack's `validateResource` does, before the engine
 * acts on the resource, and refuses one that breaks a rule, so that the update stops before it is made.
 * The runner enforces them this way on every `up` it runs rather than through the policy pack
 * (`--policy-pack policy`, which operators running a stack by hand use), whose Node process costs about
 * a second and a half before the first resource on every run.
 */
export function guardrailsTransform(args: pulumi.ResourceTransformArgs): undefined {
  const props = unwrapSecrets(args.props) as Record<string, unknown>;
  const violations = RULES.flatMap((rule) =>
    rule.check({ type: args.type, props }).map((message) => `[mandatory] ${rule.name}: ${message}`),
  );
  if (violations.length > 0) {
    throw new SkyplaneError(
      "POLICY_VIOLATION",
      `${args.type} ${args.name} breaks skyplane's guardrails:\n  ${violations.join("\n  ")}`,
    );
  }
  return undefined;
}
