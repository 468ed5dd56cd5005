import type { GatewayProgram } from "../planner/program";
import { SkyplaneError } from "../errors";

/*
 * The boot script of a gateway VM, rendered as cloud-init: nothing is provisioned over SSH. The script
 * tunes the network stack, fetches the dataplane's token and key from the cloud's secret store with the
 * VM's own identity (no secret ever sits in user data, which the metadata service serves to anyone on
 * the VM) into memory only (/run, a tmpfs, root-only), runs the gateway container with its program, and
 * installs a systemd timer that ends the VM at its expiry, so that nothing runs on after a crashed
 * client. The deadline is a wall-clock time written to disk, checked every minute and after every boot:
 * unlike `shutdown -P +N`, a reboot does not cancel it. Pure: the same spec renders the same bytes.
 */

/** Where the dataplane's secrets live, per cloud. */
export type SecretRef =
  | { readonly provider: "aws"; readonly secretArn: string; readonly region: string }
  | { readonly provider: "gcp"; readonly secret: string; readonly project: string }
  | { readonly provider: "azure"; readonly vault: string; readonly secret: string };

/** What a gateway VM needs to boot. */
export interface BootSpec {
  /** The gateway's program (no secrets in it). */
  readonly program: GatewayProgram;
  /** Container image of the gateway daemon, e.g. `ghcr.io/skyplane-pulumi/gateway:0.1.0`. */
  readonly image: string;
  /** Where the token and key are. */
  readonly secrets: SecretRef;
  /** Control API port (opened to the client's address only). */
  readonly controlPort: number;
  /** Data port (opened to peer gateways only). */
  readonly dataPort: number;
  /** Epoch ms at which the VM ends itself (an absolute deadline, whenever the VM boots). */
  readonly expireAt: number;
}

/** Memory-only, root-only home of the secrets and of the cloud CLIs' cached credentials. */
const RUN_DIR = "/run/skyplane";

/**
 * Kernel settings for a bulk-transfer gateway: socket buffers large enough for many long fat
 * connections (128 MiB), fq with BBR congestion control. See the kernel's ip-sysctl documentation.
 */
export const SYSCTL = [
  "net.core.rmem_max = 134217728",
  "net.core.wmem_max = 134217728",
  "net.ipv4.tcp_rmem = 4096 87380 134217728",
  "net.ipv4.tcp_wmem = 4096 65536 134217728",
  "net.core.default_qdisc = fq",
  "net.ipv4.tcp_congestion_control = bbr",
  "net.ipv4.tcp_mtu_probing = 1",
];

/*
 * The cloud CLIs cache access tokens in the user's home; pointed at /run they keep them in memory too.
 * https://cloud.google.com/sdk/docs/configurations and
 * https://learn.microsoft.com/cli/azure/azure-cli-configuration#cli-configuration-file
 */
function cliEnv(ref: SecretRef): string | undefined {
  switch (ref.provider) {
    case "aws":
      return undefined;
    case "gcp":
      return `CLOUDSDK_CONFIG=${RUN_DIR}/gcloud`;
    case "azure":
      return `AZURE_CONFIG_DIR=${RUN_DIR}/az`;
    default: {
      const never: never = ref;
      throw new SkyplaneError("UNREACHABLE", `unknown secret store ${JSON.stringify(never)}`);
    }
  }
}

function fetchSecrets(ref: SecretRef): string {
  // Each prints a JSON object {"token": …, "key": …}; jq turns it into an env file read by docker.
  switch (ref.provider) {
    case "aws":
      return `aws secretsmanager get-secret-value --region ${ref.region} --secret-id ${ref.secretArn} --query SecretString --output text`;
    case "gcp":
      return `gcloud secrets versions access latest --project ${ref.project} --secret ${ref.secret}`;
    case "azure":
      return `az login --identity >/dev/null && az keyvault secret show --vault-name ${ref.vault} --name ${ref.secret} --query value -o tsv`;
    default: {
      const never: never = ref;
      throw new SkyplaneError("UNREACHABLE", `unknown secret store ${JSON.stringify(never)}`);
    }
  }
}

/** The shell lines that end this VM, run as root by the expiry timer. */
function endVm(ref: SecretRef): string[] {
  // AWS: the instance is launched with shutdown behaviour "terminate", so a power-off ends it. GCP and
  // Azure: the VM deletes itself with its own identity, allowed to do exactly that; the platforms' own
  // deadline (components/gcp, components/azure) is the first line, this the second.
  switch (ref.provider) {
    case "aws":
      return ["exec systemctl poweroff"];
    case "gcp":
      return [
        `export ${cliEnv(ref)}`,
        "zone=$(curl -sf -H Metadata-Flavor:Google http://metadata.google.internal/computeMetadata/v1/instance/zone | cut -d/ -f4)",
        'exec gcloud compute instances delete "$(hostname)" --zone "$zone" --quiet',
      ];
    case "azure":
      return [
        `export ${cliEnv(ref)}`,
        "az login --identity >/dev/null",
        'id=$(curl -sf -H Metadata:true "http://169.254.169.254/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text")',
        'exec az vm delete --yes --ids "$id"',
      ];
    default: {
      const never: never = ref;
      throw new SkyplaneError("UNREACHABLE", `unknown provider ${JSON.stringify(never)}`);
    }
  }
}

/** The expiry as systemd's calendar syntax, rounded up to the second: `2026-11-27 14:00:00 UTC`. */
function calendar(expireAt: number): string {
  const iso = new Date(Math.ceil(expireAt / 1000) * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/**
 * The expiry as systemd units. The timer fires at the deadline, a minute after every boot and every
 * minute after that; the script acts only once the clock is past the deadline, so a reboot (which
 * cancels `shutdown -P +N` and any transient timer) and a failed delete are both retried. See
 * systemd.timer(5) and systemd.time(7).
 */
function expiryUnits(spec: BootSpec): { path: string; permissions: string; content: string }[] {
  const seconds = Math.ceil(spec.expireAt / 1000);
  const when = new Date(seconds * 1000).toISOString();
  return [
    {
      path: "/usr/local/sbin/skyplane-expire",
      permissions: "0755",
      content: [
        "#!/bin/sh",
        `# Ends this skyplane gateway VM once its expiry (${when}) has passed.`,
        `[ "$(date +%s)" -ge ${seconds} ] || exit 0`,
        "umask 077",
        ...endVm(spec.secrets),
      ].join("\n"),
    },
    {
      path: "/etc/systemd/system/skyplane-expire.service",
      permissions: "0644",
      content: [
        "[Unit]",
        "Description=End this skyplane gateway VM once its expiry has passed",
        "[Service]",
        "Type=oneshot",
        "ExecStart=/usr/local/sbin/skyplane-expire",
      ].join("\n"),
    },
    {
      path: "/etc/systemd/system/skyplane-expire.timer",
      permissions: "0644",
      content: [
        "[Unit]",
        `Description=skyplane gateway expiry at ${when}, kept across reboots`,
        "[Timer]",
        `OnCalendar=${calendar(spec.expireAt)}`,
        "OnBootSec=60s",
        "OnUnitActiveSec=60s",
        "AccuracySec=1s",
        "[Install]",
        "WantedBy=timers.target",
      ].join("\n"),
    },
  ];
}

const indent = (text: string, by: number) =>
  text
    .split("\n")
    .map((l) => " ".repeat(by) + l)
    .join("\n");

/** Renders the cloud-init user data of one gateway VM. */
export function renderBootScript(spec: BootSpec): string {
  const secretsFile = `${RUN_DIR}/secrets.env`;
  const env = cliEnv(spec.secrets);
  const run = [
    "docker run -d --restart=on-failure:5 --name skyplane-gateway --network host",
    `--env-file ${secretsFile}`,
    "-v /etc/skyplane/program.json:/etc/skyplane/program.json:ro",
    spec.image,
    "--program /etc/skyplane/program.json",
    `--control-host 0.0.0.0 --control-port ${spec.controlPort}`,
    `--data-host 0.0.0.0 --data-port ${spec.dataPort}`,
    `--expire-at ${spec.expireAt}`,
  ].join(" ");
  const files = [
    { path: "/etc/sysctl.d/60-skyplane.conf", permissions: "0644", content: SYSCTL.join("\n") },
    {
      path: "/etc/skyplane/program.json",
      permissions: "0644",
      content: JSON.stringify(spec.program, null, 2),
    },
    ...expiryUnits(spec),
  ];
  return [
    "#cloud-config",
    `# skyplane gateway ${spec.program.gatewayId} (${spec.program.region}); rendered by gateway-image/boot.ts`,
    "write_files:",
    ...files.flatMap((f) => [
      `  - path: ${f.path}`,
      `    permissions: '${f.permissions}'`,
      "    content: |",
      indent(f.content, 6),
    ]),
    "runcmd:",
    "  - [modprobe, tcp_bbr]",
    "  - [sysctl, --system]",
    // The expiry first: whatever fails after this, the VM still ends on time.
    "  - [systemctl, daemon-reload]",
    "  - [systemctl, enable, --now, skyplane-expire.timer]",
    // /run is a tmpfs: the secrets never reach the disk (Docker keeps the container's environment in its
    // root-only state on the encrypted root volume, deleted with the VM).
    `  - [sh, -c, 'umask 077 && mkdir -p -m 0700 ${RUN_DIR}']`,
    `  - [sh, -c, ${JSON.stringify(
      `umask 077 && ${env ? `export ${env} && ` : ""}${fetchSecrets(spec.secrets)} | jq -r '"SKYPLANE_GATEWAY_TOKEN=\\(.token)\\nSKYPLANE_GATEWAY_KEY=\\(.key)"' > ${secretsFile}`,
    )}]`,
    `  - [sh, -c, ${JSON.stringify(run)}]`,
    "",
  ].join("\n");
}
