import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

/*
 * The import rules of ARCHITECTURE.md's folder table, read from the table itself, and a checker that
 * holds source files to them. Imports are found by the TypeScript compiler's own pre-processor (static
 * `import`/`export … from`, `import(…)`, `require(…)`, `import x = require(…)`), so comments and strings
 * that merely look like imports are never counted.
 */

/** One entry of a row's "may import" cell. */
export interface Allowed {
  /** A folder (`planner/`) or a file (`runner/index.ts`). */
  readonly target: string;
  /** The only file of the row that may use this entry, when the entry says `(from F)`. */
  readonly from?: string;
}

/** One row of the folder table. */
export interface ArrowRow {
  /** The folder (`runner/`) or top-level file (`index.ts`) the row is about. */
  readonly unit: string;
  /** What its files may import besides their own folder. */
  readonly allowed: readonly Allowed[];
  /** `everything`: every unit of the table may be imported, but those in `except`. */
  readonly everything: boolean;
  /** Units `everything` leaves out. */
  readonly except: readonly string[];
}

/** What a check looked at and what it found. */
export interface ArrowReport {
  /** Source files checked. */
  readonly files: number;
  /** Relative imports (our own code) checked. */
  readonly imports: number;
  /** One line per import against the table (or file outside it). */
  readonly violations: string[];
}

const CODE = /`([^`]+)`/g;
const ENTRY = /`([^`]+)`(?:\s*\(from\s+`([^`]+)`\))?/g;

/**
 * The rows of the table whose header is `| folder | … | may import |` in `markdown`. Throws when there
 * is no such table, so that a renamed column cannot silently disable the check.
 */
export function parseArrowTable(markdown: string): ArrowRow[] {
  const lines = markdown.split("\n");
  const header = lines.findIndex((l) => /^\|\s*folder\s*\|.*\|\s*may import\s*\|\s*$/.test(l));
  if (header < 0) throw new Error("no `| folder | … | may import |` table");
  const rows: ArrowRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const cells = line.split("|").slice(1, -1);
    const unit = [...cells[0].matchAll(CODE)][0]?.[1];
    if (!unit) throw new Error(`a row without a folder: ${line}`);
    const rule = cells[cells.length - 1].trim();
    if (rule === "nothing of ours") {
      rows.push({ unit, allowed: [], everything: false, except: [] });
    } else if (rule.startsWith("everything")) {
      const except = rule.includes(" but ") ? [...rule.matchAll(CODE)].map((m) => m[1]) : [];
      rows.push({ unit, allowed: [], everything: true, except });
    } else {
      const allowed = [...rule.matchAll(ENTRY)].map((m) => ({ target: m[1], from: m[2] }));
      if (allowed.length === 0) throw new Error(`cannot read the rule of ${unit}: ${rule}`);
      rows.push({ unit, allowed, everything: false, except: [] });
    }
  }
  return rows;
}

/** True when `file` (a path from the project root) is `unit` or lies in it. */
function within(file: string, unit: string): boolean {
  return unit.endsWith("/") ? file.startsWith(unit) : file === unit;
}

/** The row `file` belongs to (the most specific one), or undefined. */
export function rowOf(file: string, rows: readonly ArrowRow[]): ArrowRow | undefined {
  return rows.filter((r) => within(file, r.unit)).sort((a, b) => b.unit.length - a.unit.length)[0];
}

/** The relative module specifiers `text` imports, in order. */
export function importsOf(text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith("./") || s.startsWith("../") || s === "." || s === "..");
}

/** The file a relative specifier of `from` names, the way Node and tsc find it, or undefined. */
export function resolveImport(
  from: string,
  spec: string,
  exists: (file: string) => boolean,
): string | undefined {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  return [`${base}.ts`, `${base}/index.ts`, base].find(exists);
}

/** Whether `row` lets `file` import `target`. */
function allows(row: ArrowRow, file: string, target: string, rows: readonly ArrowRow[]): boolean {
  if (rowOf(target, rows) === row) return true; // its own folder
  if (row.everything) return !row.except.some((u) => within(target, u));
  return row.allowed.some((a) => within(target, a.target) && (!a.from || a.from === file));
}

/**
 * Holds `sources` (path from the project root → text) to the table: every file must belong to a row,
 * and every relative import must resolve and be allowed by that row.
 */
export function checkArrows(
  sources: ReadonlyMap<string, string>,
  rows: readonly ArrowRow[],
  exists: (file: string) => boolean = (f) => sources.has(f),
): ArrowReport {
  const violations: string[] = [];
  let imports = 0;
  for (const [file, text] of sources) {
    const row = rowOf(file, rows);
    if (!row) {
      violations.push(`${file}: in no row of the folder table`);
      continue;
    }
    for (const spec of importsOf(text)) {
      imports++;
      const target = resolveImport(file, spec, exists);
      if (!target) violations.push(`${file}: "${spec}" names no file`);
      else if (!allows(row, file, target, rows))
        violations.push(`${file} imports ${target}: ${row.unit} may not import it`);
    }
  }
  return { files: sources.size, imports, violations };
}

/** Every .ts file of the project outside test/ (and node_modules/, dist/), by path from `root`. */
export function projectSources(root: string): Map<string, string> {
  const sources = new Map<string, string>();
  const skip = new Set(["node_modules", "dist", "test", ".git"]);
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${entry.name}` : entry.name;
      if (
        entry.isDirectory() &&
        !skip.has(rel) &&
        entry.name !== "node_modules" &&
        !entry.name.startsWith(".venv") // Python venvs (setup-python.sh): not our sources
      )
        walk(rel);
      else if (entry.isFile() && rel.endsWith(".ts") && !rel.endsWith(".d.ts"))
        sources.set(rel, fs.readFileSync(path.join(root, rel), "utf8"));
    }
  };
  walk("");
  return sources;
}
