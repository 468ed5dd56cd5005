import type { Highs } from "highs";
import type { MilpResult, MilpSolver } from "./overlay";

/** HiGHS (WebAssembly), the MILP solver of the overlay planner. Loaded once per process. */
let loading: Promise<MilpSolver> | undefined;

/** The HiGHS solver; the first call loads its WebAssembly module. */
export function loadSolver(): Promise<MilpSolver> {
  loading ??= import("highs").then(async (m) => highsSolver(await m.default()));
  return loading;
}

/**
 * The planner's solver on a loaded HiGHS runtime. Each solve parses the model into a fresh native
 * instance (HiGHS's persistent API, whose `info` holds the MIP gap that its one-shot `solve()` does not
 * return) and disposes it before returning.
 */
export function highsSolver(highs: Highs): MilpSolver {
  const { modelStatus, solutionStatus } = highs.constants;
  const names = new Map<number, string>(
    Object.entries(modelStatus).map(([name, code]) => [code, name]),
  );
  return {
    solve: (lp, limits) =>
      highs.withModel({ format: "lp", data: lp }, (model): MilpResult => {
        model.options.set({
          output_flag: false,
          mip_rel_gap: limits.relativeGap,
          time_limit: limits.timeLimitSeconds,
        });
        const status = model.run().modelStatus;
        // A limit can stop HiGHS with an incumbent or without one: only this info item says which.
        const feasible = model.info.get("primal_solution_status") === solutionStatus.feasible;
        let values: Record<string, number> | undefined;
        if (feasible) {
          const x = model.getSolution().colValue;
          values = {};
          for (let i = 0; i < x.length; i++) values[model.getColName(i)] = x[i];
        }
        return {
          status: names.get(status) ?? `status ${status}`,
          optimal: status === modelStatus.optimal,
          timeLimitReached: status === modelStatus.timeLimit,
          values,
          gap: feasible ? Number(model.info.get("mip_gap")) : Infinity,
        };
      }),
  };
}
