import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { BOOT_PATHS, BootSpec, GATEWAY_UNIT, renderBootScript } from "../../gateway-image/boot";
import { gatewayBundle } from "../../gateway-image/bundle";
import type { ChunkRequest } from "../../planner/program";
import { GatewayClient } from "../../runner/gateway-client";
import { describeNamespace, pidsIn, removeStaleNamespaces } from "../helpers/boot/netns";
import { CloudName, Rehearsal, Role } from "../helpers/boot/rehearsal";
import type { RehearsalVm } from "../helpers/boot/vm";
import type { VmRecord } from "../helpers/boot/vm-init";

/*
 * The boot rehearsal (issue 14): for each cloud, the exact user data the components render for a gateway
 * VM, with only the endpoints and the Node tarball's address changed, boots two VMs here (namespaces,
 * private roots, recording stand-ins: test/helpers/boot/) against stand-ins of the cloud's services. It
 * passes when the gateway each script started answers its control API with the dataplane's token, moves
 * an object from the source VM's store to the destination VM's, and each VM ends itself at its expiry
 * through the cloud's own API; a bundle whose sha256 is wrong and a secret the VM may not read each end
 * in `skyplane-boot: FAILED` and the VM's end, no gateway started. Needs root (namespaces, mounts).
 */

const CONTROL_PORT = 8080;
const DATA_PORT = 8081;
/** Time a VM has from its render to its expiry: the boot (Node unpacked, bundle, secret) and a copy. */
const TTL_MS = 30_000;
const BOOT_MS = 60_000;

/** Every path a boot script may write outside /run, /tmp and /dev (which are fresh tmpfs mounts). */
const ALLOWED_WRITES = [
  BOOT_PATHS.opt,
  BOOT_PATHS.etc,
  BOOT_PATHS.lib,
  `${BOOT_PATHS.sbin}/skyplane-boot`,
  `${BOOT_PATHS.sbin}/skyplane-expire`,
  `${BOOT_PATHS.units}/skyplane-expire.service`,
  `${BOOT_PATHS.units}/skyplane-expire.timer`,
  BOOT_PATHS.sysctl,
];
/** What the harness itself writes into a VM's root before it boots. */
const HARNESS_WRITES = [
  /^\/usr\/(s?bin|local\/s?bin)\/[^/]+$/,
  /^\/etc\/(hosts|hostname)$/,
  /^\/etc\/ssl\/certs\/ca-certificates\.crt$/,
  /^\/skyplane-rehearsal$/,
  /^\/var\/lib\/cloud(\/|$)/,
];

const isRoot = process.getuid?.() === 0;

function calls(records: VmRecord[], tool: string): string[][] {
  return records.flatMap((r) =>
    r.event === "call" && r.tool === tool ? [r.argv as string[]] : [],
  );
}

/** The dataplane's secret, as the components store it. */
function dataplaneSecret(): { token: string; key: string; json: string } {
  const token = crypto.randomBytes(24).toString("base64url");
  const key = crypto.randomBytes(32).toString("base64");
  return { token, key, json: JSON.stringify({ token, key }) };
}

/** The gateway's status, once its control API answers (as the runner waits for a booted VM). */
async function untilAnswers(
  client: GatewayClient,
): Promise<Awaited<ReturnType<GatewayClient["status"]>>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await client.status();
    } catch (err) {
      if ((err as { code?: string }).code !== "GATEWAY_UNREACHABLE" || Date.now() > deadline)
        throw err;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

/** Asserts that the VM ended itself as its cloud ends a VM, and that nothing of it runs on. */
async function assertEndedItself(
  r: Rehearsal,
  role: Role,
  vm: RehearsalVm,
  since: number,
): Promise<void> {
  await Promise.race([
    vm.ended,
    new Promise((_, reject) =>
      setTimeout(
        () => reject(new Error(`${vm.name} did not end:\n${vm.serial().slice(-3000)}`)),
        30_000,
      ),
    ),
  ]);
  assert.equal(vm.isEnded(), true);
  assert.deepEqual(vm.processes(), [], "no process of the VM is left");
  if (r.cloud === "aws") {
    // Launched with shutdown behaviour terminate: a power-off from inside ends the instance.
    assert.deepEqual(
      calls(vm.records(), "shutdown").filter((a) => a.includes("now")),
      [["-h", "now"]],
      "AWS: the VM powers itself off",
    );
    assert.ok(vm.records().some((x) => x.event === "poweroff"));
  } else {
    const deletes = r.clouds[role].deletes.filter((d) => d.at >= since);
    assert.equal(deletes.length, 1, `${r.cloud}: the VM called its own delete once`);
    const del = r.clouds[role].served.filter((s) => s.method === "DELETE" && s.status < 300);
    assert.ok(del.length >= 1);
    assert.equal(
      del.at(-1)?.auth,
      r.cloud === "gcp" ? "bearer:gcp" : "bearer:https://management.azure.com",
      "with its own identity's token",
    );
  }
}

for (const cloud of ["aws", "gcp", "azure"] as CloudName[]) {
  describe(`integration: boot rehearsal on ${cloud} (the rendered user data, in namespaces, against stand-ins)`, function () {
    this.timeout(300_000);
    let r: Rehearsal | undefined;
    const bundle = gatewayBundle();
    const times: Record<string, number> = {};

    before(async function () {
      if (!isRoot) this.skip(); // namespaces and mounts need root; CI runs as root
      await removeStaleNamespaces();
      const t0 = Date.now();
      r = await Rehearsal.create(cloud);
      times.standins = Date.now() - t0;
    });
    after(async () => {
      await r?.close();
      if (Object.keys(times).length)
        console.log(`      rehearsal times on ${cloud} (ms): ${JSON.stringify(times)}`);
    });

    it("has no route out: each VM's namespace holds loopback (with the metadata address) and the link to the other VM", () => {
      for (const role of ["src", "dst"] as const) {
        const d = describeNamespace(r!.clouds[role].ns);
        assert.deepEqual(d.links, ["eth0", "lo"]);
        assert.equal(
          d.routes.filter((x) => x.dst === "default" || x.gateway).length,
          0,
          "no default route, no gateway",
        );
        assert.ok(d.routes.length > 0, "the routes were read");
      }
    });

    if (cloud === "aws")
      it("checks every AWS request as AWS does: moto refuses a forged signature and a read outside the role's policy", async () => {
        const r0 = await r!.clouds.src.call<{
          allowed: string;
          outsidePrefix: string;
          forged: string;
        }>("awsRefusals", {});
        assert.equal(r0.allowed, "allowed");
        console.log(`      moto's refusals: ${JSON.stringify(r0)}`);
        assert.match(r0.outsidePrefix, /denied/i);
        assert.match(r0.forged, /signature|denied/i);
      });

    it("boots a source and a destination gateway that answer with the token, copy an object, and end themselves at their expiry", async () => {
      const rr = r!;
      const secret = dataplaneSecret();
      const object = crypto.randomBytes(3 * 1024 * 1024 + 17);
      const key = "data/object.bin";
      const srcBucket = rr.bucket("skyplane-src");
      const dstBucket = rr.bucket("skyplane-dst");
      const { PLACES } = await import("../helpers/boot/rehearsal");
      await rr.clouds.src.call("createBucket", {
        uri: srcBucket,
        region: PLACES[cloud].src.region,
      });
      await rr.clouds.dst.call("createBucket", {
        uri: dstBucket,
        region: PLACES[cloud].dst.region,
      });
      await rr.clouds.src.call("put", { uri: srcBucket, key, base64: object.toString("base64") });
      const t0 = Date.now();
      const expireAt = Date.now() + TTL_MS;
      const specs = {} as Record<Role, BootSpec>;
      for (const role of ["dst", "src"] as const) {
        specs[role] = {
          program: rr.program(role, { srcBucket, dstBucket, dataPort: DATA_PORT }),
          secrets: await rr.stageSecret(role, `skyplane-dataplane-${role}`, secret.json),
          controlPort: CONTROL_PORT,
          dataPort: DATA_PORT,
          expireAt,
          bundle: { artifact: await rr.stageBundle(role, bundle), sha256: bundle.sha256 },
          ...rr.bootInputs(role),
        };
      }
      const vms = {} as Record<Role, RehearsalVm>;
      for (const role of ["dst", "src"] as const)
        vms[role] = await rr.boot(role, renderBootScript(specs[role]), role, [CONTROL_PORT]);
      for (const role of ["dst", "src"] as const)
        await vms[role].waitFor(
          "the gateway unit",
          (recs) => recs.some((x) => x.event === "runcmd-exit"),
          BOOT_MS,
        );
      times.boot = Date.now() - t0;
      for (const role of ["dst", "src"] as const) {
        const vm = vms[role];
        const recs = vm.records();
        assert.deepEqual(
          recs.find((x) => x.event === "runcmd-exit"),
          { ...recs.find((x) => x.event === "runcmd-exit"), code: 0 },
          `${role}: the boot succeeded:\n${vm.serial()}`,
        );
        assert.match(vm.serial(), new RegExp(`gateway ${specs[role].program.gatewayId} started`));
        assert.doesNotMatch(vm.serial(), /FAILED/);
        // The recorded calls: tuning, the expiry armed first, the gateway as a systemd unit.
        assert.deepEqual(calls(recs, "modprobe"), [["tcp_bbr"]]);
        assert.deepEqual(calls(recs, "sysctl"), [["--system"]]);
        assert.deepEqual(calls(recs, "systemctl"), [
          ["daemon-reload"],
          ["enable", "--now", "skyplane-expire.timer"],
        ]);
        const run = calls(recs, "systemd-run");
        assert.equal(run.length, 1);
        assert.ok(run[0].includes(`--unit=${GATEWAY_UNIT}`));
        assert.ok(run[0].includes(`--property=EnvironmentFile=${BOOT_PATHS.run}/gateway.env`));
        const started = recs.find(
          (x) => x.event === "unit-start" && x.unit === `${GATEWAY_UNIT}.service`,
        );
        assert.ok(started && started.event === "unit-start");
        assert.deepEqual(started.argv.slice(1, 2), [
          `${BOOT_PATHS.opt}/gateway/skyplane-gateway/main.js`,
        ]);
        assert.equal(
          started.argv[0],
          `${BOOT_PATHS.opt}/node/bin/node`,
          "the pinned runtime, not the image's",
        );
        assert.ok(
          started.envKeys.includes("SKYPLANE_GATEWAY_TOKEN") &&
            started.envKeys.includes("SKYPLANE_GATEWAY_KEY"),
        );
        // Secrets: in the gateway's environment, never on any command line nor in any record.
        const procs = vm.processes();
        const gw = procs.find((p) => p.argv.some((a) => a.endsWith("skyplane-gateway/main.js")));
        assert.ok(
          gw,
          `${role}: the gateway runs: ${procs.map((p) => p.argv.join(" ")).join("; ")}`,
        );
        assert.ok(gw.environ.includes(`SKYPLANE_GATEWAY_TOKEN=${secret.token}`));
        assert.ok(gw.environ.includes(`SKYPLANE_GATEWAY_KEY=${secret.key}`));
        for (const p of procs)
          for (const a of p.argv)
            assert.ok(
              !a.includes(secret.token) && !a.includes(secret.key),
              `secret in argv of ${p.pid}`,
            );
        const recordText = fs.readFileSync(`${vm.dir}/share/records.jsonl`, "utf8");
        assert.ok(!recordText.includes(secret.token) && !recordText.includes(secret.key));
        assert.ok(
          !vm.serial().includes(secret.token) && !vm.serial().includes(secret.key),
          "no secret on the console",
        );
        const runDir = fs.statSync(`/proc/${gw.pid}/root${BOOT_PATHS.run}`);
        assert.equal(runDir.mode & 0o777, 0o700);
        const envFile = fs.statSync(`/proc/${gw.pid}/root${BOOT_PATHS.run}/gateway.env`);
        assert.equal(envFile.mode & 0o077, 0, "the secrets file is root's only");
        // Writes: only where the boot paths say (the rest of the root is the image's).
        // Leaves only: a copied-up folder is there because of what was written inside it.
        const all = vm.written();
        const leaves = all.filter((p) => !all.some((q) => q.startsWith(`${p}/`)));
        const written = leaves.filter((p) => !HARNESS_WRITES.some((h) => h.test(p)));
        assert.ok(written.length > 5, `the writes were listed: ${written}`);
        const stray = written.filter(
          (p) => !ALLOWED_WRITES.some((a) => p === a || p.startsWith(`${a}/`)),
        );
        assert.deepEqual(stray, [], "the script wrote only its own paths");
        // Its cloud was asked with the VM's identity: the secret with the metadata's credentials.
        if (cloud !== "aws") {
          const store = cloud === "gcp" ? "gcp-secret-manager" : "azure-key-vault";
          const reads = rr.clouds[role].served.filter((s) => s.service === store);
          assert.deepEqual(
            reads.map((s) => [s.status, s.auth]),
            [[200, cloud === "gcp" ? "bearer:gcp" : "bearer:https://vault.azure.net"]],
            "one read of the secret, with the VM's token for the secret store",
          );
        }
      }
      // The control API answers with the dataplane's token, and refuses another.
      const bridges = await Promise.all(
        (["src", "dst"] as const).map((role) => vms[role].connect(CONTROL_PORT)),
      );
      const client = (role: Role, token: string) =>
        new GatewayClient(
          {
            gatewayId: specs[role].program.gatewayId,
            host: "127.0.0.1",
            controlPort: bridges[role === "src" ? 0 : 1].port,
          },
          token,
        );
      const src = client("src", secret.token);
      const dst = client("dst", secret.token);
      const intruder = client("src", crypto.randomBytes(24).toString("base64url"));
      try {
        // The unit is started when systemd-run returns; its daemon listens a moment later.
        const status = await untilAnswers(src);
        await untilAnswers(dst);
        assert.equal(status.gatewayId, specs.src.program.gatewayId);
        assert.equal(status.isSource, true);
        assert.equal((await dst.status()).gatewayId, specs.dst.program.gatewayId);
        await assert.rejects(
          intruder.status(),
          (e: Error & { code?: string }) => e.code === "GATEWAY_AUTH",
        );
        // A real object from the source VM's store to the destination VM's.
        const t1 = Date.now();
        const chunk: ChunkRequest = {
          id: crypto.randomBytes(16).toString("hex"),
          srcKey: key,
          dstKey: key,
          offset: 0,
          length: object.length,
          objectSize: object.length,
        };
        assert.equal(await src.submit([chunk]), 1);
        let cursor = 0;
        let outcome: { state: string; error?: string } | undefined;
        const deadline = Date.now() + 60_000;
        while (!outcome) {
          const s = await src.chunkStatus(cursor);
          cursor = s.cursor;
          outcome = s.events.find((e) => e.id === chunk.id);
          if (!outcome && Date.now() > deadline)
            throw new Error(`no chunk outcome; source errors: ${await src.errors()}`);
          if (!outcome) await new Promise((res) => setTimeout(res, 100));
        }
        assert.equal(outcome.state, "done", outcome.error);
        const landed = await rr.clouds.dst.call<{ sha256: string; size: number } | null>("get", {
          uri: dstBucket,
          key,
        });
        assert.deepEqual(landed, {
          sha256: crypto.createHash("sha256").update(object).digest("hex"),
          size: object.length,
        });
        times.copy = Date.now() - t1;
      } finally {
        for (const c of [src, dst, intruder]) c.close();
        for (const b of bridges) b.close();
      }
      // The expiry: before the deadline the timer's script does nothing; after it, the VM ends itself.
      for (const role of ["src", "dst"] as const) {
        assert.equal(await vms[role].fire("skyplane-expire.timer"), 0);
        assert.equal(vms[role].isEnded(), false, `${role}: still up before its expiry`);
        assert.equal(rr.clouds[role].deletes.length, 0);
      }
      const wait = expireAt - Date.now() + 1000;
      if (wait > 0) await new Promise((res) => setTimeout(res, wait)); // the expiry is a wall-clock time
      const t2 = Date.now();
      for (const role of ["src", "dst"] as const) {
        void vms[role].fire("skyplane-expire.timer").catch(() => undefined); // the VM may end mid-answer
        await assertEndedItself(rr, role, vms[role], t2);
      }
      times.end = Date.now() - t2;
      times.total = Date.now() - t0;
    });

    for (const failure of [
      "a bundle whose sha256 does not match",
      "a secret the VM may not read",
    ] as const) {
      it(`ends in 'skyplane-boot: FAILED' and ends the VM, with no gateway, on ${failure}`, async () => {
        const rr = r!;
        const t0 = Date.now();
        const unreadable = failure.startsWith("a secret");
        const spec: BootSpec = {
          program: rr.program("src", {
            srcBucket: rr.bucket("skyplane-src"),
            dstBucket: rr.bucket("skyplane-dst"),
            dataPort: DATA_PORT,
          }),
          secrets: await rr.stageSecret(
            "src",
            `skyplane-dataplane-${unreadable ? "denied" : "ok"}`,
            unreadable ? null : dataplaneSecret().json,
          ),
          controlPort: CONTROL_PORT,
          dataPort: DATA_PORT,
          expireAt: Date.now() + 3600_000,
          bundle: {
            artifact: await rr.stageBundle("src", bundle),
            sha256: unreadable
              ? bundle.sha256
              : crypto.createHash("sha256").update("not the bundle").digest("hex"),
          },
          ...rr.bootInputs("src"),
        };
        const vm = await rr.boot(
          "src",
          renderBootScript(spec),
          unreadable ? "denied-secret" : "bad-sha256",
        );
        await assertEndedItself(rr, "src", vm, t0);
        const serial = vm.serial();
        assert.match(
          serial,
          unreadable
            ? /^skyplane-boot: FAILED: could not read the dataplane's secret/m
            : /^skyplane-boot: FAILED: the gateway bundle's sha256 is not [0-9a-f]{64}: refused/m,
        );
        assert.ok(
          !vm.records().some((x) => x.event === "unit-start" && x.unit.startsWith(GATEWAY_UNIT)),
          "no gateway was started",
        );
        if (!unreadable)
          assert.doesNotMatch(
            serial,
            /reading the dataplane's secret/,
            "nothing after the refused bundle",
          );
        times[unreadable ? "failSecret" : "failSha256"] = Date.now() - t0;
      });
    }

    it("leaves nothing running in its namespaces but the stand-ins", () => {
      for (const role of ["src", "dst"] as const) {
        const pids = pidsIn(r!.clouds[role].ns);
        const names = pids.map((p) =>
          fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").slice(0, 2).join(" "),
        );
        assert.ok(names.length > 0, "the stand-ins were seen");
        assert.deepEqual(
          names.filter((n) => !/standins-main|moto_server|fake-gcs-server|azurite|python/.test(n)),
          [],
        );
      }
    });
  });
}
