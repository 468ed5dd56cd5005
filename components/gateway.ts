import type * as pulumi from "@pulumi/pulumi";

/*
 * What every gateway component registers, whichever cloud it is on (local process or cloud VM): the same
 * output names everywhere, so a stack's state reads the same on every cloud.
 */

/** The outputs of every gateway component. */
export interface GatewayOutputs {
  /** What its cloud calls the machine it runs on: an instance or VM id; on the local cloud, `pid@start time`. */
  readonly instanceId: pulumi.Output<string>;
  /** The address its servers are reached at (a cloud VM's public address). */
  readonly host: pulumi.Output<string>;
  /** Its control API port. */
  readonly controlPort: pulumi.Output<number>;
  /** Its data port. */
  readonly dataPort: pulumi.Output<number>;
}

/** A gateway's outputs as it registers them: exactly the names of GatewayOutputs. */
export function gatewayOutputs(
  g: GatewayOutputs,
): Record<keyof GatewayOutputs, pulumi.Output<unknown>> {
  return {
    instanceId: g.instanceId,
    host: g.host,
    controlPort: g.controlPort,
    dataPort: g.dataPort,
  };
}
