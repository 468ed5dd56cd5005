import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { liveStartTime } from "../../common/process";
import { planDirect } from "../../planner/direct";
import { buildModel } from "../../planner/model";
import { engineCacheRoot, findEngineRoot } from "../../runner/engine";

/*
 * GitOps: an operator runs the project folder by hand, `pulumi up --stack <route>` on a reviewed
 * topology, through the real CLI and the Node.js language host, then `pulumi destroy`.
 */
describe("integration: pulumi up --stack <route> by hand", function () {
  this.timeout(180_000);
  const route = "local-east--local-west";
  let dir: string;
  let env: NodeJS.ProcessEnv;
  // The guardrails, as an operator applies them: the folder holding PulumiPolicy.yaml.
  const policyPack = path.resolve(__dirname, "..", "..", "..", "policy");
  const runWith = (input: string | undefined, args: string[]) =>
    spawnSync(path.join(findEngineRoot(), "bin", "pulumi"), [...args, "--stack", route], {
      cwd: dir,
      env,
      input,
      encoding: "utf8",
      timeout: 120_000,
    });
  const run = (...args: string[]) => runWith(undefined, args);
  const check = (r: ReturnType<typeof run>, args: string[]) => {
    assert.equal(r.status, 0, `pulumi ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const pulumi = (...args: string[]) => check(run(...args), args);
  // A secret as the README sets it: on stdin, never on the command line.
  const secret = (name: string, value: string) => {
    const args = ["config", "set", "--secret", name];
    check(runWith(value + "\n", args), args);
  };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-gitops-"));
    const dist = path.resolve(__dirname, "..", "..");
    // A project folder like the repository's, pointing at the compiled program.
    fs.writeFileSync(
      path.join(dir, "Pulumi.yaml"),
      `name: skyplane\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: ${dist}\n`,
    );
    env = {
      ...process.env,
      PATH: `${path.join(engineCacheRoot(), "bin")}:${process.env.PATH}`,
      // As README.md says: sidecars off (runner/backend.ts).
      PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}?metadata=skip`,
      PULUMI_HOME: path.join(dir, "pulumi-home"),
      PULUMI_CONFIG_PASSPHRASE: "gitops-test",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      SKYPLANE_HOME: path.join(dir, "home"),
    };
    fs.mkdirSync(path.join(dir, "state"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("brings a reviewed topology up under the guardrails, changes nothing on a second run, and destroys it", () => {
    pulumi("stack", "init");
    const topology = planDirect({ src: "local:east", dsts: ["local:west"] }, buildModel());
    pulumi("config", "set", "skyplane:topology", JSON.stringify(topology));
    pulumi("config", "set", "skyplane:home", env.SKYPLANE_HOME as string);
    secret("skyplane:token", crypto.randomBytes(24).toString("base64"));
    secret("skyplane:key", crypto.randomBytes(32).toString("base64"));
    const up = pulumi("up", "--yes", "--skip-preview", "--policy-pack", policyPack);
    assert.match(up, /skyplane-guardrails/, "the policy pack ran");
    const runDir = path.join(env.SKYPLANE_HOME as string, "run", route);
    const pids = fs
      .readdirSync(runDir)
      .map((f) => JSON.parse(fs.readFileSync(path.join(runDir, f), "utf8")).pid as number);
    assert.equal(pids.length, 2);
    assert.ok(
      pids.every((p) => liveStartTime(p)),
      "both gateways run",
    );
    pulumi("preview", "--expect-no-changes", "--policy-pack", policyPack);
    pulumi("destroy", "--yes", "--skip-preview");
    assert.ok(
      pids.every((p) => !liveStartTime(p)),
      "destroy stopped them",
    );
  });

  it("stops a stack whose gateways would have no TTL before anything starts", () => {
    // The stack of the test above, emptied by its destroy, now asks for gateways that never end.
    pulumi("config", "set", "--path", "skyplane:ttlMinutes", "0");
    const r = run("up", "--yes", "--skip-preview", "--policy-pack", policyPack);
    const out = `${r.stdout}\n${r.stderr}`;
    assert.notEqual(r.status, 0, out);
    assert.match(out, /gateways-have-ttl/);
    assert.match(out, /the gateway has no TTL: give it ttlMinutes/);
    assert.match(out, /mandatory/);
    const runDir = path.join(env.SKYPLANE_HOME as string, "run", route);
    assert.deepEqual(fs.existsSync(runDir) ? fs.readdirSync(runDir) : [], [], "no gateway started");
    pulumi("config", "rm", "skyplane:ttlMinutes");
  });
});
