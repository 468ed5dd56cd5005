import type { MilpSolver } from "./overlay";

/** HiGHS (WebAssembly), the MILP solver of the overlay planner. Loaded once per process. */
let loading: Promise<MilpSolver> | undefined;

/** The HiGHS solver; the first call loads its WebAssembly module. */
export function loadSolver(): Promise<MilpSolver> {
  // HiGHS's own result type is a union over solve outcomes; MilpSolver names the fields the planner reads.
  loading ??= import("highs").then((m) => m.default() as unknown as Promise<MilpSolver>);
  return loading;
}
