import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { checkArrows, parseArrowTable, projectSources } from "./helpers/arrows";

/*
 * ARCHITECTURE.md's folder table is the import rule: every .ts file outside test/ is checked against it,
 * so the map and the code cannot drift apart.
 */
describe("architecture: imports follow ARCHITECTURE.md's folder table", () => {
  const root = path.resolve(__dirname, "..", "..");
  const rows = parseArrowTable(fs.readFileSync(path.join(root, "ARCHITECTURE.md"), "utf8"));
  const units = rows.map((r) => r.unit);

  it("reads one row per folder, each with its rule", () => {
    for (const unit of ["common/", "errors.ts", "planner/", "stores/", "gateway-image/"])
      assert.ok(units.includes(unit), unit);
    for (const unit of ["components/", "index.ts", "runner/", "cli/", "bench/", "test/"])
      assert.ok(units.includes(unit), unit);
    const rule = (unit: string) => rows.find((r) => r.unit === unit);
    assert.deepEqual(
      rule("common/")?.allowed,
      [{ target: "errors.ts", from: undefined }],
      "common/ imports nothing of ours but the error table",
    );
    assert.deepEqual(rule("errors.ts")?.allowed, [], "errors.ts imports nothing of ours");
    assert.deepEqual(rule("bench/")?.except, ["test/"]);
    assert.deepEqual(
      rule("runner/")?.allowed.find((a) => a.target === "index.ts"),
      { target: "index.ts", from: "runner/engine.ts" },
      "one runner file hands the program to the Automation API",
    );
  });

  it("finds no import against it in the project's source files", () => {
    const sources = projectSources(root);
    const report = checkArrows(
      sources,
      rows,
      (f) => sources.has(f) || fs.existsSync(path.join(root, f)),
    );
    // What it looked at, first: a walk that found nothing would pass for a clean one.
    assert.ok(report.files >= 100, `checked ${report.files} files`);
    assert.ok(report.imports >= 300, `checked ${report.imports} imports`);
    for (const unit of units.filter((u) => u !== "test/"))
      assert.ok(
        [...sources.keys()].some((f) => (unit.endsWith("/") ? f.startsWith(unit) : f === unit)),
        `no file checked in ${unit}`,
      );
    assert.deepEqual(report.violations, []);
  });

  it("catches an import against the table, whatever its form", () => {
    const sources = new Map([
      ["stores/bad.ts", 'import { planDirect } from "../planner/direct";\n'],
      ["components/bad.ts", 'export async function f() {\n  return import("../stores");\n}\n'],
      ["common/bad.ts", '// eslint-disable-next-line\nconst p = require("../planner/topology");\n'],
      ["errors.ts", 'import { UserError } from "./common/regions";\n'],
      ["cli/bad.ts", 'import type { Topology } from "../planner/topology";\n'],
      ["cli/deep.ts", 'export { Engine } from "../runner/engine";\n'],
      ["runner/bad.ts", 'import program from "../index";\n'],
      ["runner/engine.ts", 'import program from "../index";\n'],
      ["bench/bad.ts", 'import { x } from "../test/helpers/mocks";\n'],
      ["stores/fine.ts", 'import { parseRegion } from "../common";\n// import "../planner/x";\n'],
      ["lonely/file.ts", "export const x = 1;\n"],
    ]);
    const exists = (f: string) =>
      sources.has(f) ||
      [
        "planner/direct.ts",
        "stores/index.ts",
        "errors.ts",
        "planner/topology.ts",
        "runner/engine.ts",
        "index.ts",
        "test/helpers/mocks.ts",
        "common/index.ts",
        "common/regions.ts",
      ].includes(f);
    const report = checkArrows(sources, rows, exists);
    assert.equal(report.files, 11);
    assert.equal(report.imports, 10, "the commented-out import is not one");
    assert.deepEqual(report.violations, [
      "stores/bad.ts imports planner/direct.ts: stores/ may not import it",
      "components/bad.ts imports stores/index.ts: components/ may not import it",
      "common/bad.ts imports planner/topology.ts: common/ may not import it",
      "errors.ts imports common/regions.ts: errors.ts may not import it",
      "cli/bad.ts imports planner/topology.ts: cli/ may not import it",
      "cli/deep.ts imports runner/engine.ts: cli/ may not import it",
      "runner/bad.ts imports index.ts: runner/ may not import it",
      "bench/bad.ts imports test/helpers/mocks.ts: bench/ may not import it",
      "lonely/file.ts: in no row of the folder table",
    ]);
  });
});
