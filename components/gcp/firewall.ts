import * as compute from "@pulumi/gcp/compute";
import * as pulumi from "@pulumi/pulumi";
import { GatewayFirewallArgs, IngressRule, ingressRules } from "../cloud";

/** Arguments of the gateways' firewall (global, like the network). */
export interface GcpGatewayFirewallArgs extends GatewayFirewallArgs {
  /** The project. */
  project: pulumi.Input<string>;
  /** The network. */
  network: pulumi.Input<string>;
  /** The network tag of the gateways. */
  targetTag: string;
}

/** Firewall rules: only the gateway ports, only from peer gateways and the client. */
export class GcpGatewayFirewall extends pulumi.ComponentResource {
  constructor(name: string, args: GcpGatewayFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
    super("skyplane:gcp:GatewayFirewall", name, {}, opts);
    const rule = (suffix: string, port: number, sources: pulumi.Input<pulumi.Input<string>[]>) =>
      new compute.Firewall(
        `${name}-${suffix}`,
        {
          project: args.project,
          network: args.network,
          direction: "INGRESS",
          allows: [{ protocol: "tcp", ports: [String(port)] }],
          sourceRanges: sources,
          targetTags: [args.targetTag],
        },
        { parent: this },
      );
    // One firewall rule per ingress rule: their number must be known before the addresses are.
    const rules = ingressRules(args);
    const sources = (kind: IngressRule["name"]) =>
      rules.apply((all) => all.find((r) => r.name === kind)?.sources ?? []);
    rule("data", args.dataPort, sources("data"));
    rule("control", args.controlPort, sources("control"));
    if (args.sshCidr) rule("ssh", 22, sources("ssh"));
    this.registerOutputs({});
  }
}
