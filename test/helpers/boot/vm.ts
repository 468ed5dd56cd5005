import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { buildSync } from "esbuild";
import { liveStartTime } from "../../../common/process";
import type { VmConfig, VmRecord } from "./vm-init";

/*
 * A rehearsal VM: the boot script runs as root in a mount, PID and UTS namespace of its own inside the
 * VM's network namespace (netns.ts), in a private root: an overlay of this machine's root with a tmpfs
 * taking every write (/etc, /usr/local, /opt, /var …) plus fresh /run, /tmp and /dev, so nothing it
 * writes reaches this machine. The root is made to look like a stock cloud image where it matters:
 * no node, jq, docker or cloud CLIs (this machine has some; a script that used them would pass here and
 * fail on the cloud), /etc/hosts naming the metadata server, recording stand-ins at the real paths of
 * systemctl, systemd-run, shutdown, poweroff, halt, reboot, sysctl and modprobe (recorder.ts), the
 * rehearsal's CA in the system trust store (the stand-ins that must speak TLS use it), and cloud-init
 * replaced by the init (vm-init.ts), which is PID 1: when it ends, the kernel ends everything in the VM.
 * The host folder of the VM (`dir/share`, at /skyplane-rehearsal inside) carries its user data, the
 * records of every stand-in call, the serial console and Unix sockets to the init and to chosen ports.
 */

/** How to start a VM. */
export interface VmOptions {
  /** Its name (hostname, and the instance name in its cloud). */
  readonly name: string;
  /** The network namespace it lives in. */
  readonly ns: string;
  /** A fresh host folder for its files (removed by `remove`). */
  readonly dir: string;
  /** The user data, exactly as the cloud hands it to cloud-init. */
  readonly userData: string | Buffer;
  /** /etc/hosts lines: address → names. */
  readonly hosts: Readonly<Record<string, readonly string[]>>;
  /** PEM certificates to add to the system trust store. */
  readonly caPem?: string;
  /** Ports in the VM the host may connect to (`connect`). */
  readonly bridges?: readonly number[];
}

/** A process in the VM, as the host sees it. */
export interface VmProcess {
  readonly pid: number;
  readonly argv: string[];
  /** Its environment (root can read it; the test checks where secrets are). */
  readonly environ: string[];
}

/** A started VM. */
export interface RehearsalVm {
  readonly name: string;
  readonly dir: string;
  /** Every record so far. */
  records(): VmRecord[];
  /** The serial console so far. */
  serial(): string;
  /** A journal (stdout and stderr) of a service. */
  journal(unit: string): string;
  /** Waits until the records satisfy `done`; fails with the serial console after `ms`. */
  waitFor(what: string, done: (r: VmRecord[]) => boolean, ms: number): Promise<VmRecord[]>;
  /** Triggers a timer's service, as systemd does when it elapses; its exit status. */
  fire(timer: string): Promise<number>;
  /** Resolves when the VM is gone (its init ended), with how long it ran. */
  readonly ended: Promise<void>;
  /** True once it has ended. */
  isEnded(): boolean;
  /** The VM's processes (the init and its descendants). */
  processes(): VmProcess[];
  /** Paths the VM wrote or removed in its root (besides /run, /tmp and /dev), from its overlay. */
  written(): string[];
  /** A host port that reaches `port` inside the VM's network (through the VM's init). */
  connect(port: number): Promise<{ port: number; close(): void }>;
  /** Ends the VM now (as the cloud does when it deletes it). */
  kill(): Promise<void>;
}

/** Tools a stock cloud image does not have, hidden from the VM's PATH. */
export const ABSENT_TOOLS = [
  "node",
  "nodejs",
  "npm",
  "npx",
  "corepack",
  "jq",
  "aws",
  "gcloud",
  "gsutil",
  "az",
  "docker",
];
/** Tools replaced by recording stand-ins, with where a stock Ubuntu has them. */
export const RECORDED_TOOLS: Readonly<Record<string, string>> = {
  systemctl: "/usr/bin/systemctl",
  "systemd-run": "/usr/bin/systemd-run",
  shutdown: "/usr/sbin/shutdown",
  poweroff: "/usr/sbin/poweroff",
  halt: "/usr/sbin/halt",
  reboot: "/usr/sbin/reboot",
  sysctl: "/usr/sbin/sysctl",
  modprobe: "/usr/sbin/modprobe",
};
const VM_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The shell script that builds the private root and starts the init in it (run by unshare). */
export function rootScript(dir: string, name: string): string {
  const r = `${dir}/mnt/root`;
  const hidden = VM_PATH.flatMap((d) => ABSENT_TOOLS.map((t) => `${d}/${t}`));
  const recorders = Object.entries(RECORDED_TOOLS).flatMap(([tool, at]) => {
    const paths = new Set([
      at,
      ...VM_PATH.map((d) => `${d}/${tool}`).filter((p) => fs.existsSync(p)),
    ]);
    return [...paths].map((p) => [
      `rm -f ${q(r + p)}`,
      `printf '#!/bin/sh\\nexec /skyplane-rehearsal/node /skyplane-rehearsal/recorder.js %s "$@"\\n' ${q(tool)} >${q(r + p)}`,
      `chmod 0755 ${q(r + p)}`,
    ]);
  });
  const devices: [string, string, number, number][] = [
    ["null", "c", 1, 3],
    ["zero", "c", 1, 5],
    ["full", "c", 1, 7],
    ["random", "c", 1, 8],
    ["urandom", "c", 1, 9],
    ["tty", "c", 5, 0],
  ];
  return [
    "set -eu",
    `mount -t tmpfs -o mode=0755 skyplane-vm ${q(dir + "/mnt")}`,
    `mkdir ${q(dir + "/mnt/upper")} ${q(dir + "/mnt/work")} ${q(r)}`,
    `mount -t overlay skyplane-vm -o ${q(`lowerdir=/,upperdir=${dir}/mnt/upper,workdir=${dir}/mnt/work`)} ${q(r)}`,
    `mount -t proc proc ${q(r + "/proc")}`,
    `mount -t sysfs -o ro sysfs ${q(r + "/sys")}`,
    `mount -t tmpfs -o mode=0755,nosuid,nodev run ${q(r + "/run")}`,
    `mount -t tmpfs -o mode=1777,nosuid,nodev tmp ${q(r + "/tmp")}`,
    `mount -t tmpfs -o mode=0755,nosuid dev ${q(r + "/dev")}`,
    ...devices.map(([n, t, a, b]) => `mknod -m 0666 ${q(`${r}/dev/${n}`)} ${t} ${a} ${b}`),
    `ln -s /proc/self/fd ${q(r + "/dev/fd")}`,
    ...["stdin", "stdout", "stderr"].map(
      (n, i) => `ln -s /proc/self/fd/${i} ${q(`${r}/dev/${n}`)}`,
    ),
    `mkdir ${q(r + "/dev/shm")} && mount -t tmpfs -o mode=1777 shm ${q(r + "/dev/shm")}`,
    `mkfifo -m 0600 ${q(r + "/dev/console")}`,
    `mkdir -p ${q(r + "/skyplane-rehearsal")}`,
    `mount --bind ${q(dir + "/share")} ${q(r + "/skyplane-rehearsal")}`,
    `mount --bind ${q(process.execPath)} ${q(r + "/skyplane-rehearsal/node")}`,
    ...hidden.map((p) => `[ ! -e ${q(r + p)} ] && [ ! -L ${q(r + p)} ] || rm -f ${q(r + p)}`),
    ...recorders.flat(),
    `cat ${q(dir + "/share/hosts")} >${q(r + "/etc/hosts")}`,
    `echo ${q(name)} >${q(r + "/etc/hostname")}`,
    `hostname ${q(name)}`,
    `[ ! -s ${q(dir + "/share/ca.pem")} ] || cat ${q(dir + "/share/ca.pem")} >>${q(r + "/etc/ssl/certs/ca-certificates.crt")}`,
    `exec env -i PATH=${VM_PATH.join(":")} LANG=C.UTF-8 chroot ${q(r)} /skyplane-rehearsal/node /skyplane-rehearsal/init.js`,
    "",
  ].join("\n");
}

/** Bundles a helper into one file the VM runs with no access to this checkout. */
function bundle(entry: string, outfile: string): void {
  buildSync({
    entryPoints: [path.join(__dirname, entry)],
    bundle: true,
    platform: "node",
    target: "node20",
    outfile,
    logLevel: "error",
  });
}

function readRecords(file: string): VmRecord[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as VmRecord);
}

/** The descendants of `pid` (and it), from /proc. */
function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i];
    for (const t of fs.existsSync(`/proc/${p}/task`) ? fs.readdirSync(`/proc/${p}/task`) : []) {
      try {
        const kids = fs.readFileSync(`/proc/${p}/task/${t}/children`, "utf8").trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      } catch {
        // the task ended meanwhile
      }
    }
  }
  return out;
}

function unixRequest(sock: string, urlPath: string, payload: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, path: urlPath, method: "POST" }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => {
        const value = JSON.parse(Buffer.concat(parts).toString()) as { error?: string };
        if ((res.statusCode ?? 500) >= 300) reject(new Error(`${urlPath}: ${value.error}`));
        else resolve(value);
      });
    });
    req.on("error", reject);
    req.end(JSON.stringify(payload));
  });
}

/** Starts a VM: builds its root and boots it with its user data. */
export async function startVm(opts: VmOptions): Promise<RehearsalVm> {
  const share = path.join(opts.dir, "share");
  fs.mkdirSync(path.join(opts.dir, "mnt"), { recursive: true });
  fs.mkdirSync(share, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(share, "user-data"), opts.userData, { mode: 0o600 });
  fs.writeFileSync(
    path.join(share, "hosts"),
    Object.entries({ "127.0.0.1": ["localhost"], ...opts.hosts })
      .map(([a, names]) => `${a} ${names.join(" ")}`)
      .join("\n") + "\n",
  );
  fs.writeFileSync(path.join(share, "ca.pem"), opts.caPem ?? "");
  fs.writeFileSync(path.join(share, "node"), "");
  const config: VmConfig = { name: opts.name, bridges: opts.bridges ?? [] };
  fs.writeFileSync(path.join(share, "vm.json"), JSON.stringify(config));
  bundle("vm-init.js", path.join(share, "init.js"));
  bundle("recorder.js", path.join(share, "recorder.js"));
  const script = path.join(opts.dir, "root.sh");
  fs.writeFileSync(script, rootScript(opts.dir, opts.name));
  const log = fs.openSync(path.join(opts.dir, "vm.log"), "a");
  // setpriv: should this process die, its kernel kills the VM (unshare's child goes with it).
  const child: ChildProcess = spawn(
    "setpriv",
    [
      "--pdeathsig",
      "KILL",
      "ip",
      "netns",
      "exec",
      opts.ns,
      "unshare",
      "--mount",
      "--pid",
      "--uts",
      "--fork",
      "--kill-child",
      "--propagation",
      "private",
      "/bin/sh",
      script,
    ],
    { stdio: ["ignore", log, log] },
  );
  fs.closeSync(log);
  let exited = false;
  const ended = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      resolve();
    }),
  );
  const recordsFile = path.join(share, "records.jsonl");
  const serial = () => {
    const f = path.join(share, "serial.log");
    return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "";
  };
  /** The init's pid on the host: unshare's only child. */
  const initPid = (): number | undefined => {
    if (exited || !child.pid) return undefined;
    const kids = descendants(child.pid).slice(1);
    return kids[0];
  };
  const vm: RehearsalVm = {
    name: opts.name,
    dir: opts.dir,
    records: () => readRecords(recordsFile),
    serial,
    journal: (unit) => {
      const f = path.join(share, "journal", `${unit}.log`);
      return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "";
    },
    async waitFor(what, done, ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        const records = readRecords(recordsFile);
        if (done(records)) return records;
        if (Date.now() > deadline || exited) {
          if (done(readRecords(recordsFile))) return readRecords(recordsFile);
          throw new Error(
            `${opts.name}: ${exited ? "the VM ended" : `no ${what} in ${ms} ms`} before ${what}\n` +
              `--- serial console ---\n${serial().slice(-6000)}\n--- vm.log ---\n` +
              fs.readFileSync(path.join(opts.dir, "vm.log"), "utf8").slice(-2000),
          );
        }
        // The records file grows by appends; a change wakes this at once, the timer bounds the wait.
        await new Promise<void>((resolve) => {
          let watcher: fs.FSWatcher | undefined;
          const timer = setTimeout(finish, 200);
          function finish() {
            clearTimeout(timer);
            watcher?.close();
            resolve();
          }
          try {
            watcher = fs.watch(share, finish);
          } catch {
            // the folder is being removed: the timer ends the wait
          }
          void ended.then(finish);
        });
      }
    },
    async fire(timer) {
      const r = (await unixRequest(path.join(share, "systemd.sock"), "/fire", { timer })) as {
        code: number;
      };
      return r.code;
    },
    ended,
    isEnded: () => exited,
    processes() {
      const init = initPid();
      if (init === undefined) return [];
      return descendants(init).flatMap((pid) => {
        try {
          const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
          const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").slice(0, -1);
          return [{ pid, argv, environ }];
        } catch {
          return [];
        }
      });
    },
    written() {
      const init = initPid();
      if (init === undefined) throw new Error(`${opts.name} has ended: its root is gone`);
      const upper = `${opts.dir}/mnt/upper`;
      const out = execFileSync("nsenter", [
        "-t",
        String(init),
        "-m",
        "find",
        upper,
        "-mindepth",
        "1",
      ]);
      return out
        .toString()
        .split("\n")
        .filter(Boolean)
        .map((p) => p.slice(upper.length));
    },
    async connect(port) {
      const sock = path.join(share, `tcp-${port}.sock`);
      const server = net.createServer((inbound) => {
        const outbound = net.connect(sock);
        inbound.pipe(outbound).pipe(inbound);
        inbound.on("error", () => outbound.destroy());
        outbound.on("error", () => inbound.destroy());
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
    },
    async kill() {
      if (exited || !child.pid) return;
      const start = liveStartTime(child.pid);
      if (start !== undefined) child.kill("SIGKILL"); // unshare --kill-child takes the init with it
      await ended;
    },
  };
  return vm;
}
