import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { parseUserData, runcmdScript, userDataText } from "../helpers/boot/cloud-init";
import {
  createRehearsalNetwork,
  pidsIn,
  RehearsalNetwork,
  removeStaleNamespaces,
} from "../helpers/boot/netns";
import { parseSystemdRun, serviceSpec, splitCommand, parseUnitFile } from "../helpers/boot/systemd";
import { ABSENT_TOOLS, RehearsalVm, startVm } from "../helpers/boot/vm";

/*
 * The rehearsal's own guarantees (test/helpers/boot/), each made to fire: the cloud-init and systemd
 * stand-ins run what cloud-init and systemd would and refuse what they do not rehearse; a VM cannot
 * touch this machine's files, finds none of the tools a stock image lacks, has no route out, and a
 * `shutdown` in it is recorded and ends the VM, not this machine.
 */

describe("boot rehearsal harness: cloud-init and systemd stand-ins", () => {
  it("writes runcmd as cloud-init does: a list quoted word by word, a string verbatim", () => {
    const cfg = parseUserData(
      "#cloud-config\nwrite_files:\n  - path: /etc/x\n    permissions: '0600'\n    content: |\n      a\nruncmd:\n  - [echo, \"it's\", a b]\n  - echo $HOME\n",
    );
    assert.deepEqual(cfg.writeFiles, [{ path: "/etc/x", content: "a\n", mode: 0o600 }]);
    assert.equal(runcmdScript(cfg.runcmd), "#!/bin/sh\n'echo' 'it'\\''s' 'a b'\necho $HOME\n");
  });

  it("unpacks gzip-compressed user data first, as cloud-init does (EC2 user data over 16 KB)", () => {
    const text = "#cloud-config\nruncmd:\n  - [true]\n";
    assert.equal(userDataText(zlib.gzipSync(text)), text);
    assert.equal(userDataText(Buffer.from(text)), text);
  });

  it("refuses modules and options it does not rehearse", () => {
    assert.throws(() => parseUserData("#cloud-config\npackages: [jq]\n"), /unsupported module/);
    assert.throws(
      () => parseUserData("#cloud-config\nwrite_files:\n  - path: /x\n    encoding: b64\n"),
      /unsupported key/,
    );
    assert.throws(() => parseUserData("#!/bin/sh\necho\n"), /#cloud-config/);
  });

  it("reads units, command lines and systemd-run as systemd does, refusing the rest by name", () => {
    assert.deepEqual(splitCommand(`/bin/sh -c "echo \\"hi\\"" 'a b' 100%%`), [
      "/bin/sh",
      "-c",
      'echo "hi"',
      "a b",
      "100%",
    ]);
    const unit = parseUnitFile("[Service]\nType=oneshot\nExecStart=-/usr/local/sbin/x --y\n");
    const spec = serviceSpec(unit.Service, "x.service");
    assert.deepEqual(
      [spec.argv, spec.type, spec.ignoreFailure],
      [["/usr/local/sbin/x", "--y"], "oneshot", true],
    );
    assert.throws(
      () => serviceSpec({ ExecStart: ["/x"], PrivateNetwork: ["yes"] }, "y"),
      /PrivateNetwork/,
    );
    const run = parseSystemdRun([
      "--unit=gw",
      "--property=DynamicUser=yes",
      "--setenv=A=b c",
      "/opt/node",
      "main.js",
    ]);
    assert.equal(run.unit, "gw.service");
    assert.deepEqual(run.command, ["/opt/node", "main.js"]);
    assert.equal(serviceSpec(run.service, run.unit).dynamicUser, true);
    assert.deepEqual(serviceSpec(run.service, run.unit).environment, { A: "b c" });
    assert.throws(() => parseSystemdRun(["--scope", "/bin/true"]), /--scope is not rehearsed/);
  });
});

describe("boot rehearsal harness: a VM cannot touch this machine", function () {
  this.timeout(60_000);
  let network: RehearsalNetwork | undefined;
  let vm: RehearsalVm | undefined;
  let dir: string | undefined;
  const isRoot = process.getuid?.() === 0;

  before(function () {
    if (!isRoot) this.skip(); // namespaces and mounts need root; CI runs as root
  });
  after(async () => {
    await vm?.kill();
    await network?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("hides what a stock image lacks, keeps its writes, has no route out, and records a shutdown that ends only the VM", async () => {
    await removeStaleNamespaces();
    network = await createRehearsalNetwork(crypto.randomBytes(3).toString("hex").slice(0, 5));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-harness-"));
    const marker = path.join(dir, "host-file");
    fs.writeFileSync(marker, "host");
    const userData = [
      "#cloud-config",
      "write_files:",
      "  - path: /etc/systemd/system/bye.service",
      "    content: |",
      "      [Service]",
      "      Type=oneshot",
      "      ExecStart=/usr/sbin/shutdown -h now",
      "  - path: /etc/systemd/system/bye.timer",
      "    content: |",
      "      [Timer]",
      "      OnActiveSec=1h",
      "runcmd:",
      `  - [sh, -c, 'for t in ${ABSENT_TOOLS.join(" ")}; do command -v $t; done; echo tools-checked']`,
      `  - [sh, -c, 'echo vm >${marker}; echo x >/etc/skyplane-stray; echo written']`,
      "  - [sh, -c, 'ip route get 192.0.2.1 || echo no-route-out']",
      "  - [sh, -c, 'getent hosts metadata.google.internal']",
      "  - [systemctl, start, bye.timer]",
      "",
    ].join("\n");
    vm = await startVm({
      name: "harness-vm",
      ns: network.src.ns,
      dir: path.join(dir, "vm"),
      userData,
      hosts: { "169.254.169.254": ["metadata.google.internal"] },
    });
    await vm.waitFor("runcmd's end", (r) => r.some((x) => x.event === "runcmd-exit"), 30_000);
    const serial = vm.serial();
    // None of the tools was found (command -v prints a path for each one it finds).
    assert.match(serial, /^tools-checked$/m);
    assert.doesNotMatch(serial, /^\/.*\/(node|jq|docker|aws|gcloud|az)$/m);
    assert.match(serial, /^written$/m);
    assert.equal(fs.readFileSync(marker, "utf8"), "host", "the host's file is untouched");
    assert.ok(!fs.existsSync("/etc/skyplane-stray"), "nothing reached the host's /etc");
    const written = vm.written();
    assert.ok(written.includes("/etc/skyplane-stray"), `the overlay kept it: ${written}`);
    assert.match(serial, /^no-route-out$/m);
    assert.match(serial, /^169\.254\.169\.254\s+metadata\.google\.internal$/m);
    // The timer's service runs the shutdown stand-in: recorded, and the VM (only) powers off.
    assert.equal(vm.isEnded(), false);
    void vm.fire("bye.timer").catch(() => undefined); // the VM may end before it answers
    await vm.ended;
    const shutdowns = vm.records().filter((r) => r.event === "call" && r.tool === "shutdown");
    assert.deepEqual(
      shutdowns.map((r) => (r.event === "call" ? r.argv : [])),
      [["-h", "now"]],
    );
    assert.ok(vm.records().some((r) => r.event === "poweroff"));
    assert.deepEqual(vm.processes(), []);
    assert.deepEqual(
      pidsIn(network.src.ns).filter((p) => fs.existsSync(`/proc/${p}`)),
      [],
      "nothing of the VM is left in its namespace",
    );
  });
});
