import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isSameProcess, parseProcStat } from "../../../common/process";
import { LocalProcessProvider, LocalProcessOutputs } from "../../../components/local";

describe("components/local/process", () => {
  describe("parseProcStat", () => {
    const tail = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21";
    const cases: Array<[string, string, string]> = [
      ["a plain name", `42 (node) ${tail}`, "S"],
      ["a name with spaces and parentheses", `42 (my (odd) name) ${tail}`, "S"],
      ["a zombie", `42 (x) Z${tail.slice(1)}`, "Z"],
    ];
    for (const [what, line, state] of cases) {
      it(`reads state and start time of ${what}`, () => {
        assert.deepEqual(parseProcStat(line), { state, startTime: "987654" });
      });
    }
    it("rejects a line that is not a stat line", () => {
      assert.throws(() => parseProcStat("garbage"), /not a \/proc\/<pid>\/stat line/);
      assert.throws(() => parseProcStat("1 (x) S 1 2"), /malformed/);
    });
    it("agrees with the kernel about this process", () => {
      const mine = parseProcStat(fs.readFileSync(`/proc/${process.pid}/stat`, "utf8"));
      assert.equal(isSameProcess(process.pid, mine.startTime), true);
      assert.equal(isSameProcess(process.pid, String(Number(mine.startTime) + 1)), false);
    });
  });

  describe("LocalProcessProvider", function () {
    this.timeout(20_000);
    const provider = new LocalProcessProvider();
    let dir: string;
    const started: LocalProcessOutputs[] = [];

    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-proc-"));
    });
    afterEach(async () => {
      for (const p of started.splice(0)) await provider.delete("", { ...p, stopGraceMs: 0 });
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const start = async (script: string, extra: Partial<LocalProcessOutputs> = {}) => {
      const inputs = {
        command: [process.execPath, "-e", script],
        logFile: path.join(dir, "p.log"),
        ...extra,
      };
      const { id, outs } = await provider.create(inputs);
      assert.ok(outs);
      started.push(outs);
      return { id, outs };
    };

    it("starts a process that outlives create, logging to its file with a minimal environment", async () => {
      const { id, outs } = await start(
        "console.log('env', process.env.GREETING, process.env.PULUMI_CONFIG_PASSPHRASE ?? 'none'); setInterval(() => {}, 1e9)",
        { env: { GREETING: "hi" } },
      );
      assert.equal(id, `${outs.pid}@${outs.startTime}`);
      assert.equal(isSameProcess(outs.pid, outs.startTime), true);
      for (let i = 0; i < 200 && !fs.readFileSync(outs.logFile, "utf8").includes("env"); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(fs.readFileSync(outs.logFile, "utf8").trim(), "env hi none");
      assert.equal(fs.statSync(outs.logFile).mode & 0o777, 0o600);
    });

    it("never stops a recycled pid: a start time that does not match leaves the process alone", async () => {
      const { outs } = await start("setInterval(() => {}, 1e9)");
      const impostor = { ...outs, startTime: String(Number(outs.startTime) - 1), stopGraceMs: 0 };
      await provider.delete("", impostor);
      assert.equal(isSameProcess(outs.pid, outs.startTime), true, "the process must still run");
      await provider.delete("", outs);
      assert.equal(isSameProcess(outs.pid, outs.startTime), false, "delete must stop it");
    });

    it("kills a process that ignores SIGTERM once the grace period is over", async () => {
      const { outs } = await start(
        "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1e9)",
        {
          stopGraceMs: 300,
        },
      );
      // Wait until node has installed the handler (it prints once it has), so SIGTERM is really ignored.
      for (let i = 0; i < 400 && !fs.readFileSync(outs.logFile, "utf8").includes("ready"); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const before = Date.now();
      await provider.delete("", outs);
      assert.ok(Date.now() - before >= 300, "SIGKILL comes only after the grace period");
      assert.equal(isSameProcess(outs.pid, outs.startTime), false);
    });

    it("reports a process that died as missing on read, so refresh drops it", async () => {
      const { id, outs } = await start("setInterval(() => {}, 1e9)");
      assert.deepEqual(await provider.read(id, outs), { id, props: outs });
      process.kill(outs.pid, "SIGKILL");
      for (let i = 0; i < 200 && isSameProcess(outs.pid, outs.startTime); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(await provider.read(id, outs), {});
    });

    it("fails create when the program does not exist", async () => {
      await assert.rejects(
        provider.create({
          command: [path.join(dir, "no-such-program")],
          logFile: path.join(dir, "x.log"),
        }),
        /ENOENT/,
      );
    });

    it("checks inputs and replaces on any change", async () => {
      const bad = await provider.check({} as never, { command: [], logFile: "" });
      assert.deepEqual(
        bad.failures?.map((f) => f.property),
        ["command", "logFile"],
      );
      const olds = { command: ["a"], logFile: "l", pid: 1, startTime: "2" };
      assert.deepEqual(await provider.diff("", olds, { command: ["a"], logFile: "l" }), {
        changes: false,
        replaces: [],
        deleteBeforeReplace: true,
      });
      const diff = await provider.diff("", olds, { command: ["b"], logFile: "l", env: { A: "1" } });
      assert.deepEqual(diff.replaces, ["command", "env"]);
    });
  });
});
