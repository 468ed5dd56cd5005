import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
  ERRORS,
  ErrorCode,
  EXIT,
  InternalError,
  isUserError,
  SkyplaneError,
  UserError,
} from "../errors";

/*
 * The error table: its size and shape, the exit statuses it gives, and that the sources throw exactly
 * its codes (scanned from the TypeScript, so a code in a string the compiler cannot check is caught too).
 */

const ROOT = path.join(__dirname, "..", "..");

/** Every .ts file of the project outside tests, benchmarks, dist and node_modules. */
function sources(dir = ROOT): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (
        !["node_modules", "dist", "test", "bench", ".git"].includes(entry.name) &&
        !entry.name.startsWith(".venv")
      )
        out.push(...sources(full));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
      out.push(full);
    }
  }
  return out;
}

/**
 * The Python package's modules, whose codes count as used too (the Node side is not there to see its
 * own death, nor to be missing); its generated table of classes (`_codes.py`) does not count.
 */
function pythonSources(): string[] {
  const dir = path.join(ROOT, "python", "skyplane");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".py") && f !== "_codes.py")
    .map((f) => path.join(dir, f));
}

/** Codes of Node and the OS that the sources compare against, which are not ours. */
const FOREIGN = new Set([...Object.keys(os.constants.errno), "ABORT_ERR"]);

/** Every error-code literal in `text`: thrown, typed, assigned to `code:` or compared with `.code`. */
function codeLiterals(text: string): string[] {
  const code = '"([A-Z][A-Z0-9_]+)"';
  const patterns = [
    new RegExp(`new \\w*Error\\(\\s*${code}`, "g"), // new UserError("X", …)
    new RegExp(`super\\(\\s*${code}`, "g"), // super("X", …) in an error class
    new RegExp(`\\bcode:\\s*${code}`, "g"), // { code: "X" }
    new RegExp(`\\.code\\s*[!=]==\\s*${code}`, "g"), // err.code === "X"
    new RegExp(`\\berror_for\\(\\s*${code}`, "g"), // error_for("X", …) in Python
  ];
  const found = patterns.flatMap((p) => [...text.matchAll(p)].map((m) => m[1]));
  // Error<"X" | "Y">: the codes a class may carry.
  for (const m of text.matchAll(/Error<\s*([^>]*)>/g))
    found.push(...[...m[1].matchAll(/"([A-Z][A-Z0-9_]+)"/g)].map((n) => n[1]));
  return found.filter((c) => !FOREIGN.has(c));
}

describe("errors: the one error table", () => {
  const codes = Object.keys(ERRORS) as ErrorCode[];

  it("has one row per code, each an exit status of EXIT and a kind", () => {
    assert.equal(codes.length, 82);
    assert.equal(new Set(codes.map((c) => c.toLowerCase())).size, codes.length, "codes unique");
    const statuses = new Set<number>(Object.values(EXIT));
    for (const c of codes) {
      assert.match(c, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, c);
      assert.ok(statuses.has(ERRORS[c].exit) && (ERRORS[c].exit as number) !== EXIT.OK, c);
      assert.ok(["user", "internal"].includes(ERRORS[c].kind), c);
    }
    const kinds = (kind: string) => codes.filter((c) => ERRORS[c].kind === kind);
    assert.deepEqual([kinds("user").length, kinds("internal").length], [47, 35]);
  });

  it("gives user errors exit statuses that no internal error has", () => {
    const of = (kind: string) =>
      new Set(codes.filter((c) => ERRORS[c].kind === kind).map((c) => ERRORS[c].exit));
    assert.deepEqual([...of("user")].sort(), [EXIT.USER, EXIT.INTERRUPTED].sort());
    assert.deepEqual([...of("internal")].sort(), [EXIT.INTERNAL, EXIT.TRANSFER].sort());
  });

  it("reads kind and exit status from the table, whatever the class", () => {
    const user = new UserError("NO_SUCH_BUCKET", "make it first");
    assert.deepEqual([user.userFixable, user.exitStatus, isUserError(user)], [true, 1, true]);
    const internal = new InternalError("ENGINE_FAILED", "it crashed");
    assert.deepEqual(
      [internal.userFixable, internal.exitStatus, isUserError(internal)],
      [false, 2, false],
    );
    // A store's error is the user's to fix when its code says so.
    const root = new SkyplaneError("ACCESS_DENIED", "check the credentials");
    assert.deepEqual([root.name, isUserError(root)], ["SkyplaneError", true]);
    assert.equal(isUserError(new Error("not ours")), false);
    const cause = new Error("below");
    assert.equal(new SkyplaneError("ENGINE_FAILED", "above", { cause }).cause, cause);
  });

  it("holds every code the sources use, and the sources use every code in it", () => {
    const py = pythonSources();
    assert.ok(py.length >= 5, `scanned ${py.length} Python modules`);
    const files = [...sources(), ...py];
    assert.ok(files.length > 50, `scanned ${files.length} files`);
    const used = new Map<string, string>();
    for (const file of files) {
      if (path.relative(ROOT, file) === "errors.ts") continue;
      for (const c of codeLiterals(fs.readFileSync(file, "utf8")))
        if (!used.has(c)) used.set(c, path.relative(ROOT, file));
    }
    const unknown = [...used].filter(([c]) => !(c in ERRORS)).map(([c, f]) => `${c} (${f})`);
    assert.deepEqual(unknown, [], "codes the sources use that the table lacks");
    assert.deepEqual(
      codes.filter((c) => !used.has(c)),
      [],
      "rows of the table no source uses",
    );
    assert.equal(used.size, codes.length);
  });

  it("stays out of the dynamic providers that are serialised into every stack's state", async () => {
    const { LocalProcessProvider } = await import("../components/local/process");
    const { LocalNetworkProvider } = await import("../components/local/network");
    for (const provider of [new LocalProcessProvider(), new LocalNetworkProvider()]) {
      // As pulumi.dynamic.Resource serialises its provider.
      const { text } = await pulumi.runtime.serializeFunction(() => provider, {
        allowSecrets: true,
      });
      assert.match(text, /\bcreate\b/, "the provider's code was serialised");
      assert.doesNotMatch(text, /errors_1|SkyplaneError|ERRORS/);
    }
  });

  it("finds codes however the sources spell them", () => {
    const text = [
      'throw new UserError("NO_SUCH_BUCKET", "x");',
      'throw new SkyplaneError(\n  "ENGINE_FAILED",\n  "y");',
      'super("WIRE_PROTOCOL", message);',
      '{ code: "ROUTE_BUSY" }',
      'if (err.code === "NO_SUCH_KEY") return;',
      'if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;',
      'class RefusedError extends SkyplaneError<"BAD_CHUNK_REQUEST" | "KEY_OUTSIDE_BUCKET"> {}',
      'raise error_for("NODE_SIDE_GONE", message)',
    ].join("\n");
    assert.deepEqual(codeLiterals(text).sort(), [
      "BAD_CHUNK_REQUEST",
      "ENGINE_FAILED",
      "KEY_OUTSIDE_BUCKET",
      "NODE_SIDE_GONE",
      "NO_SUCH_BUCKET",
      "NO_SUCH_KEY",
      "ROUTE_BUSY",
      "WIRE_PROTOCOL",
    ]);
  });
});
