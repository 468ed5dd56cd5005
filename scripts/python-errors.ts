/*
 * Prints python/skyplane/_codes.py: every code of ERRORS as a Python exception class with its exit
 * status and kind, so that the Python package raises what the CLI reports. python/tests/test_errors.py
 * fails while the committed file differs from this output. Remake it after a change to ERRORS:
 *   npm run build && node dist/scripts/python-errors.js > python/skyplane/_codes.py
 */
import { ERRORS, ErrorCode } from "../errors";

/** The Python class of a code: NO_SUCH_BUCKET → NoSuchBucketError. */
export function pythonClassName(code: string): string {
  return (
    code
      .toLowerCase()
      .split("_")
      .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
      .join("") + "Error"
  );
}

/** The module's text. */
export function pythonErrorsModule(): string {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  const lines = [
    "# Generated from errors.ts by scripts/python-errors.ts; do not edit. After a change to ERRORS:",
    "#   npm run build && node dist/scripts/python-errors.js > python/skyplane/_codes.py",
    '"""Every code of the error table (``ERRORS`` in errors.ts) as an exception class."""',
    "",
    "from typing import Final",
    "",
    "from .errors import InternalError, SkyplaneError, UserError",
    "",
    "#: Every code: the status ``skyplane`` exits with, and whether the user can fix it.",
    "ERRORS: Final[dict[str, tuple[int, str]]] = {",
    ...codes.map((c) => `    "${c}": (${ERRORS[c].exit}, "${ERRORS[c].kind}"),`),
    "}",
  ];
  for (const c of codes) {
    const { exit, kind } = ERRORS[c];
    const base = kind === "user" ? "UserError" : "InternalError";
    const what = kind === "user" ? "a user error" : "an internal error";
    lines.push(
      "",
      "",
      `class ${pythonClassName(c)}(${base}):`,
      `    """\`\`${c}\`\`: ${what}; \`\`skyplane\`\` exits ${exit}."""`,
      "",
      `    code = "${c}"`,
      `    exit_status = ${exit}`,
    );
  }
  lines.push(
    "",
    "",
    "#: The class of each code.",
    "CLASSES: Final[dict[str, type[SkyplaneError]]] = {",
    ...codes.map((c) => `    "${c}": ${pythonClassName(c)},`),
    "}",
    "",
    "__all__ = [",
    '    "CLASSES",',
    '    "ERRORS",',
    ...codes
      .map(pythonClassName)
      .sort()
      .map((name) => `    "${name}",`),
    "]",
  );
  return lines.join("\n") + "\n";
}

if (require.main === module) process.stdout.write(pythonErrorsModule());
