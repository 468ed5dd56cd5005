import { SkyplaneClient, TransferPlan } from "../../runner";
import { ChunkingOptions, DEFAULT_CHUNKING } from "../../runner/chunker";
import type { PlanRequest } from "../../runner/plan";

/** A copy planned in `home` as `SkyplaneClient.planCopy` plans it, for `runTransfer` against test gateways. */
export function planned(
  home: string,
  req: PlanRequest,
  chunking: ChunkingOptions = DEFAULT_CHUNKING,
): Promise<TransferPlan> {
  return new SkyplaneClient({ home, transferConfig: chunking }).planCopy(req);
}
