import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { isSameProcess, liveStartTime } from "../../common/process";
import { LocalProcess } from "../../components/local";
import { Engine } from "../../runner/engine";

/*
 * The real engine (built by scripts/setup-pulumi.sh), a file backend in a temporary skyplane home and a
 * route-named stack whose program runs plain processes through the local cloud's dynamic provider: up
 * starts a process, a second up changes nothing, destroy stops it. (skyplane's own program, with a
 * gateway, goes through the engine in `skyplane check` and the transfer tests.)
 */
describe("integration: a route stack through the Pulumi engine", function () {
  this.timeout(180_000);
  const route = "local-east--local-west";
  let home: string;
  let engine: Engine;

  /** A program that runs each command as a LocalProcess and exports their pids. */
  const processes =
    (commands: Record<string, string[]>) => async (): Promise<Record<string, unknown>> => {
      const pids: Record<string, pulumi.Output<number>> = {};
      for (const [name, command] of Object.entries(commands)) {
        const logFile = path.join(home, "logs", pulumi.getStack(), `${name}.log`);
        pids[name] = new LocalProcess(name, { command, logFile }).pid;
      }
      return { pids };
    };

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-engine-"));
    engine = await Engine.open({ home });
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("uses the pinned engine version", () => {
    assert.equal(engine.version, "3.248.0");
  });

  it("starts a process on up, reuses the stack unchanged, and stops it on destroy", async () => {
    const marker = `skyplane-test-${process.pid}-${Date.now()}`;
    const stack = await engine.stack(
      route,
      processes({ gw0: [process.execPath, "-e", "setInterval(() => {}, 1e9)", marker] }),
    );
    let pid: number | undefined;
    let startTime: string | undefined;
    try {
      const up = await stack.up({ color: "never" });
      assert.equal(up.summary.result, "succeeded");
      assert.equal(up.summary.resourceChanges?.create, 2, "the stack and the process");
      pid = (up.outputs.pids.value as Record<string, number>).gw0;
      startTime = liveStartTime(pid);
      assert.ok(startTime, `process ${pid} must be running`);
      assert.ok(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker));

      const again = await stack.up({ color: "never" });
      assert.deepEqual(again.summary.resourceChanges, { same: 2 });
      assert.equal((again.outputs.pids.value as Record<string, number>).gw0, pid);
      assert.equal(isSameProcess(pid, startTime), true, "reuse must not restart the process");

      // The file backend and the passphrase live in the home we chose.
      assert.ok(
        fs.existsSync(path.join(home, "state", ".pulumi", "stacks", "skyplane", `${route}.json`)),
      );
      assert.equal(fs.statSync(path.join(home, "passphrase")).mode & 0o777, 0o600);

      const destroy = await stack.destroy({ color: "never" });
      assert.equal(destroy.summary.resourceChanges?.delete, 2);
      assert.equal(isSameProcess(pid, startTime), false, "destroy must stop the process");
      const state = await stack.exportStack();
      assert.deepEqual(state.deployment.resources ?? [], [], "the stack must be empty");
    } finally {
      await stack.destroy({ color: "never" }).catch(() => undefined);
      await stack.workspace.removeStack(route).catch(() => undefined);
    }
  });

  it("writes no blob sidecars, and lists and destroys a stack whose sidecars a killed engine tore", async () => {
    const name = "local-east--local-north";
    const stack = await engine.stack(
      name,
      processes({ gw0: [process.execPath, "-e", "setInterval(() => {}, 1e9)"] }),
    );
    const pulumiDir = path.join(home, "state", ".pulumi");
    const files = (): string[] =>
      (fs.readdirSync(pulumiDir, { recursive: true }) as string[]).filter((f) =>
        fs.statSync(path.join(pulumiDir, f)).isFile(),
      );
    try {
      const up = await stack.up({ color: "never" });
      const pid = (up.outputs.pids.value as Record<string, number>).gw0;
      const written = files();
      assert.ok(written.length >= 4, `the backend wrote its files: ${written.join(", ")}`);
      assert.deepEqual(
        written.filter((f) => f.endsWith(".attrs")),
        [],
        "no sidecar, so no kill can tear one",
      );

      // What an engine killed between a sidecar's create and its write (or a home of an earlier
      // version, which wrote sidecars) leaves: empty sidecars beside the checkpoint and meta.yaml.
      const checkpoint = path.join(pulumiDir, "stacks", "skyplane", `${name}.json`);
      for (const blob of [checkpoint, path.join(pulumiDir, "meta.yaml")])
        fs.writeFileSync(`${blob}.attrs`, "");
      // The engine itself cannot read the stack past them: a bare EOF.
      const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
      const options = engine.workspaceOptions();
      const plain = await LocalWorkspace.create({
        ...options,
        projectSettings: {
          ...options.projectSettings!,
          backend: { url: `file://${path.join(home, "state")}` },
        },
      });
      await assert.rejects(plain.listStacks(), /EOF/);

      const reopened = await Engine.open({ home });
      assert.deepEqual(
        files().filter((f) => f.endsWith(".attrs")),
        [],
        "the torn sidecars are gone",
      );
      assert.ok((await reopened.listStacks()).includes(name));
      const again = await reopened.stack(
        name,
        processes({ gw0: [process.execPath, "-e", "setInterval(() => {}, 1e9)"] }),
      );
      const destroy = await again.destroy({ color: "never" });
      assert.equal(destroy.summary.resourceChanges?.delete, 2);
      assert.equal(liveStartTime(pid), undefined, "destroy stopped the process");
    } finally {
      await stack.destroy({ color: "never" }).catch(() => undefined);
      await stack.workspace.removeStack(name).catch(() => undefined);
    }
  });

  it("fails up with the engine's message when the process cannot start, and leaves nothing", async () => {
    const stack = await engine.stack(
      "local-east--local-south",
      processes({ broken: [path.join(home, "no-such-gateway")] }),
    );
    try {
      await assert.rejects(stack.up({ color: "never" }), /ENOENT/);
      const state = await stack.exportStack();
      const kinds = (state.deployment.resources ?? []).map((r: { type: string }) => r.type);
      assert.deepEqual(
        kinds.filter((t: string) => t.includes("LocalProcess")),
        [],
      );
      assert.ok(kinds.includes("pulumi:pulumi:Stack"), "the stack itself was recorded");
    } finally {
      await stack.destroy({ color: "never" }).catch(() => undefined);
      await stack.workspace.removeStack("local-east--local-south").catch(() => undefined);
    }
  });
});
