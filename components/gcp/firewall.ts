import * as compute from "@pulumi/gcp/compute";
import * as pulumi from "@pulumi/pulumi";

/** Arguments of the gateways' firewall. */
export interface GcpGatewayFirewallArgs {
  /** The project. */
  project: pulumi.Input<string>;
  /** The network. */
  network: pulumi.Input<string>;
  /** The network tag of the gateways. */
  targetTag: string;
  /** Every gateway's address (peers may send to the data port). */
  peerIps: pulumi.Input<pulumi.Input<string>[]>;
  /** The client's address as a CIDR (it alone reaches the control port). */
  clientCidr: pulumi.Input<string>;
  /** Data port. */
  dataPort: number;
  /** Control API port. */
  controlPort: number;
  /** A CIDR allowed to SSH in; default none. */
  sshCidr?: pulumi.Input<string>;
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
    rule(
      "data",
      args.dataPort,
      pulumi.output(args.peerIps).apply((ips) => ips.map((ip) => `${ip}/32`)),
    );
    rule("control", args.controlPort, [args.clientCidr]);
    if (args.sshCidr) rule("ssh", 22, [args.sshCidr]);
    this.registerOutputs({});
  }
}
