import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Test } from "mocha";

/*
 * The Python side's tests, run by pytest from `npm test`: each pytest test becomes a mocha test of its
 * own (so that mocha's summary counts it), failing with pytest's report of it. pytest runs once per
 * folder, in the venv that `npm run setup` makes (scripts/setup-python.sh), and writes one JSON line
 * per test phase (pytest-reportlog), which is what is read here.
 */

/** The folders of pytest tests, relative to the checkout. Each part of the Python side adds its own. */
export const PYTEST_FOLDERS = [
  "python/tests",
  "python/airflow-provider/tests",
  "examples/ml-staging/tests",
];

const ROOT = path.resolve(__dirname, "..", "..", "..");
const VENV_PYTHON = path.join(ROOT, ".venv", "bin", "python");
/** How long one folder's pytest may run. */
const FOLDER_TIMEOUT_MS = 30 * 60_000;

/** One line of pytest-reportlog's output, as far as it is read here. */
interface ReportLine {
  readonly $report_type: string;
  readonly nodeid?: string;
  readonly when?: "setup" | "call" | "teardown" | "collect";
  readonly outcome?: "passed" | "failed" | "skipped";
  readonly longrepr?: unknown;
  readonly sections?: ReadonlyArray<readonly [string, string]>;
  readonly exitstatus?: number;
}

/** What one pytest test came to: its outcome over its phases, and pytest's report when it did not pass. */
export interface PytestOutcome {
  readonly nodeid: string;
  readonly outcome: "passed" | "failed" | "skipped";
  readonly report: string;
}

/** One folder's run. */
interface FolderRun {
  readonly folder: string;
  readonly exitCode: number | null;
  readonly output: string;
  readonly tests: PytestOutcome[];
}

/** The text of a report's `longrepr` (a string, a skip's [path, line, reason], or a traceback). */
export function longreprText(longrepr: unknown): string {
  if (longrepr === null || longrepr === undefined) return "";
  if (typeof longrepr === "string") return longrepr;
  if (Array.isArray(longrepr)) return String(longrepr[2] ?? longrepr.join(" "));
  const r = longrepr as {
    reprtraceback?: { reprentries?: Array<{ data?: { lines?: string[] } }> };
    reprcrash?: { path?: string; lineno?: number; message?: string };
    chain?: Array<[typeof r.reprtraceback, typeof r.reprcrash, string | null]>;
  };
  const chain = r.chain ?? [[r.reprtraceback, r.reprcrash, null]];
  return chain
    .map(([tb, crash, descr]) => {
      const lines = (tb?.reprentries ?? []).flatMap((e) => e.data?.lines ?? []);
      const where = crash ? `${crash.path}:${crash.lineno}: ${crash.message}` : "";
      return [...lines, where, descr ?? ""].filter((l) => l !== "").join("\n");
    })
    .join("\n\n");
}

/** Folds the report lines of a run into one outcome per test, in the order pytest ran them. */
export function outcomes(lines: readonly ReportLine[]): PytestOutcome[] {
  const byId = new Map<string, { outcome: PytestOutcome["outcome"]; report: string[] }>();
  for (const line of lines) {
    const failedCollect = line.$report_type === "CollectReport" && line.outcome === "failed";
    if (line.$report_type !== "TestReport" && !failedCollect) continue;
    const id = failedCollect ? `${line.nodeid} (collecting)` : (line.nodeid ?? "?");
    const test = byId.get(id) ?? { outcome: "passed", report: [] };
    byId.set(id, test);
    if (line.outcome === "failed") {
      test.outcome = "failed";
      test.report.push(`-- ${line.when ?? "collect"} --\n${longreprText(line.longrepr)}`);
      for (const [title, text] of line.sections ?? []) test.report.push(`-- ${title} --\n${text}`);
    } else if (line.outcome === "skipped" && test.outcome !== "failed") {
      test.outcome = "skipped";
      test.report.push(longreprText(line.longrepr));
    }
  }
  return [...byId].map(([nodeid, t]) => ({
    nodeid,
    outcome: t.outcome,
    report: t.report.join("\n"),
  }));
}

/** Runs pytest over one folder; resolves once it exited. */
function runPytest(folder: string): Promise<FolderRun> {
  const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-pytest-")), "report.jsonl");
  // The package finds node on PATH: this one, whatever the environment's PATH holds first.
  const env = {
    ...process.env,
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
  };
  const child = spawn(VENV_PYTHON, ["-m", "pytest", folder, `--report-log=${log}`, "-q"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")));
  child.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (exitCode) => {
      const lines = fs.existsSync(log)
        ? fs
            .readFileSync(log, "utf8")
            .split("\n")
            .filter((l) => l.trim() !== "")
            .map((l) => JSON.parse(l) as ReportLine)
        : [];
      fs.rmSync(path.dirname(log), { recursive: true, force: true });
      resolve({ folder, exitCode, output, tests: outcomes(lines) });
    });
  });
}

describe("python: pytest", () => {
  const runs: FolderRun[] = [];

  before(async function () {
    this.timeout(PYTEST_FOLDERS.length * FOLDER_TIMEOUT_MS);
    // Tests added to this suite in its own before hook run after it, in order.
    const suite = this.test?.parent;
    if (!suite || !fs.existsSync(VENV_PYTHON)) return;
    for (const folder of PYTEST_FOLDERS) {
      const run = await runPytest(folder);
      runs.push(run);
      for (const t of run.tests) {
        suite.addTest(
          new Test(t.nodeid, function (this: Mocha.Context) {
            if (t.outcome === "skipped") {
              // A skip says why, as pytest reported it.
              assert.ok(t.report.trim() !== "", `${t.nodeid} skipped without a reason`);
              if (this.test) this.test.title += ` (skipped: ${t.report.trim()})`;
              this.skip();
            }
            assert.equal(t.outcome, "passed", `pytest: ${t.nodeid} failed\n${t.report}`);
          }),
        );
      }
    }
  });

  it("runs every pytest folder listed, each collecting and reporting its tests", () => {
    assert.ok(
      fs.existsSync(VENV_PYTHON),
      `no Python venv at ${path.dirname(path.dirname(VENV_PYTHON))}: run 'npm run setup' (it runs scripts/setup-python.sh)`,
    );
    assert.deepEqual(
      runs.map((r) => r.folder),
      PYTEST_FOLDERS,
    );
    for (const run of runs) {
      // 0: all passed; 1: some failed (reported one by one below). Anything else is pytest's own trouble.
      assert.ok(
        run.exitCode === 0 || run.exitCode === 1,
        `pytest ${run.folder} exited ${run.exitCode}:\n${run.output}`,
      );
      assert.ok(run.tests.length > 0, `pytest collected no test in ${run.folder}:\n${run.output}`);
    }
  });
});

describe("python: pytest's reports, read", () => {
  const report = (nodeid: string, when: string, outcome: string, longrepr: unknown = null) =>
    ({ $report_type: "TestReport", nodeid, when, outcome, longrepr }) as ReportLine;

  it("fold each test's phases into one outcome, keeping pytest's report of what failed", () => {
    const traceback = {
      reprtraceback: {
        reprentries: [{ data: { lines: ["    assert 1 == 2", "E   assert 1 == 2"] } }],
      },
      reprcrash: { path: "/t/test_a.py", lineno: 3, message: "assert 1 == 2" },
    };
    const folded = outcomes([
      { $report_type: "SessionStart" },
      report("t::ok", "setup", "passed"),
      report("t::ok", "call", "passed"),
      report("t::ok", "teardown", "passed"),
      report("t::bad", "setup", "passed"),
      report("t::bad", "call", "failed", traceback),
      report("t::bad", "teardown", "passed"),
      report("t::skip", "setup", "skipped", ["/t/test_a.py", 9, "Skipped: no emulator"]),
      report("t::skip", "teardown", "passed"),
      report("t::leak", "call", "passed"),
      report("t::leak", "teardown", "failed", "left a process"),
      {
        $report_type: "CollectReport",
        nodeid: "t/test_b.py",
        outcome: "failed",
        longrepr: "E   ImportError",
      },
      { $report_type: "SessionFinish", exitstatus: 1 },
    ]);
    assert.deepEqual(
      folded.map((t) => [t.nodeid, t.outcome]),
      [
        ["t::ok", "passed"],
        ["t::bad", "failed"],
        ["t::skip", "skipped"],
        ["t::leak", "failed"],
        ["t/test_b.py (collecting)", "failed"],
      ],
    );
    assert.equal(
      folded[1].report,
      "-- call --\n    assert 1 == 2\nE   assert 1 == 2\n/t/test_a.py:3: assert 1 == 2",
    );
    assert.equal(folded[2].report, "Skipped: no emulator");
    assert.equal(folded[3].report, "-- teardown --\nleft a process");
    assert.equal(folded[4].report, "-- collect --\nE   ImportError");
  });
});
