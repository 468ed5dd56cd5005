import { PolicyPack } from "@pulumi/policy";
import { RULES } from "./rules";

/*
 * skyplane's guardrails as a Pulumi policy pack: `pulumi up --policy-pack policy` (the folder holding
 * PulumiPolicy.yaml), and every `dp.provision()`. Every rule is mandatory: a violation stops the update
 * before anything is created.
 */
new PolicyPack("skyplane-guardrails", {
  description:
    "Guardrails for skyplane gateway stacks: closed firewalls, exact IAM, tagged gateways with a TTL, encrypted disks and private artifacts buckets.",
  enforcementLevel: "mandatory",
  policies: RULES.map((rule) => ({
    name: rule.name,
    description: rule.description,
    validateResource: (args, reportViolation) => {
      for (const message of rule.check({ type: args.type, props: args.props }))
        reportViolation(message);
    },
  })),
});
