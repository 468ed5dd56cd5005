import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/*
 * The README's commands work as written right after setup: setup does not put `skyplane` on PATH, so
 * the README runs it as `npx skyplane`, which finds the checkout's own bin without fetching anything.
 */

const ROOT = path.join(__dirname, "..", "..");

/** The commands of the README's shell blocks: comments dropped, split at `;`, `&&`, `||` and `|`. */
function shellCommands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```(?:bash|sh)\n([\s\S]*?)^```/gm)].map((m) => m[1]);
  return blocks
    .flatMap((b) => b.split("\n"))
    .map((line) => line.replace(/(^|\s)#.*$/, ""))
    .flatMap((line) => line.split(/;|&&|\|\||\|/))
    .map((c) => c.trim().replace(/^sudo\s+/, ""))
    .filter((c) => c !== "");
}

describe("README: its commands work as written after setup", function () {
  this.timeout(60_000);
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  let home: string;
  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-readme-"));
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("starts with setup and the tests, and runs the command line as `npx skyplane`", () => {
    const commands = shellCommands(readme);
    assert.deepEqual(commands.slice(0, 3), ["npm run setup", "npm run demo", "npm test"]);
    const bare = commands.filter((c) => /^skyplane\s/.test(c));
    assert.deepEqual(bare, [], "`skyplane` is not on PATH after setup");
    const npx = commands.filter((c) => /^npx skyplane\s/.test(c));
    assert.ok(npx.length >= 15, `${npx.length} commands run the command line`);
  });

  it("runs the first commands of 'Using it' verbatim in the checkout, fetching nothing", () => {
    const commands = shellCommands(readme);
    const mb = commands.find((c) => c.startsWith("npx skyplane mb local://"));
    const plan = commands.find((c) =>
      c.startsWith("npx skyplane plan local:east local:west --json"),
    );
    assert.ok(mb && plan, "the README makes a local bucket and prints a plan");
    const run = (command: string) =>
      spawnSync("bash", ["-c", command], {
        cwd: ROOT,
        // Offline: npx must find the checkout's own bin, never ask the registry for a "skyplane".
        env: { ...process.env, SKYPLANE_HOME: home, npm_config_offline: "true" },
        encoding: "utf8",
        timeout: 50_000,
      });
    const made = run(mb);
    assert.equal(made.status, 0, made.stderr);
    assert.match(made.stdout, /^Made local:\/\/my-east in local:east$/m);
    const planned = run(plan);
    assert.equal(planned.status, 0, planned.stderr);
    assert.deepEqual(
      JSON.parse(planned.stdout).gateways.map((g: { region: string }) => g.region),
      ["local:east", "local:west"],
    );
  });
});
