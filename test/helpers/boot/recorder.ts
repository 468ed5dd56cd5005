import * as http from "node:http";

/*
 * The recording stand-in behind systemctl, systemd-run, shutdown, poweroff, sysctl and modprobe on a
 * rehearsal VM (installed at their real paths by vm.ts): it hands its name and arguments to the VM's
 * init (vm-init.ts), which records the call and does what the real tool would do to the VM, and prints
 * the answer as the tool would. A real `shutdown` here would stop the machine the tests run on.
 */

const [tool, ...argv] = process.argv.slice(2);
const req = http.request(
  { socketPath: "/skyplane-rehearsal/systemd.sock", path: "/exec", method: "POST" },
  (res) => {
    const parts: Buffer[] = [];
    res.on("data", (d: Buffer) => parts.push(d));
    res.on("end", () => {
      const r = JSON.parse(Buffer.concat(parts).toString()) as {
        code: number;
        stdout: string;
        stderr: string;
      };
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.code;
    });
  },
);
req.on("error", (err) => {
  process.stderr.write(`${tool} (rehearsal stand-in): ${err.message}\n`);
  process.exitCode = 1;
});
req.end(JSON.stringify({ tool, argv }));
