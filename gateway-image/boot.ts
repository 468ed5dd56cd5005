import type { GatewayProgram } from "../planner/program";

/*
 * The boot script of a gateway VM, rendered as cloud-init: nothing is provisioned over SSH. The script
 * tunes the network stack, fetches the dataplane's token and key from the cloud's secret store with the
 * VM's own identity (no secret ever sits in user data, which the metadata service serves to anyone on
 * the VM), runs the gateway container with its program, and arranges for the VM to end itself at its
 * expiry, so that nothing runs on after a crashed client. Pure: the same spec renders the same bytes.
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
  /** Epoch ms at which the VM ends itself. */
  readonly expireAt: number;
  /** The time the script is rendered, epoch ms (the shutdown delay is counted from it). */
  readonly now: number;
}

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
      throw new Error(`unknown secret store ${JSON.stringify(never)}`);
    }
  }
}

function selfDestruct(ref: SecretRef, minutes: number): string {
  // AWS: the instance is launched with shutdown behaviour "terminate", so a shutdown ends it. GCP and
  // Azure: the VM deletes itself with its own identity, allowed to do exactly that.
  switch (ref.provider) {
    case "aws":
      return `shutdown -P +${minutes}`;
    case "gcp":
      return (
        `systemd-run --on-active=${minutes}m --unit skyplane-expire /bin/sh -c ` +
        `'gcloud compute instances delete "$(hostname)" --zone "$(curl -s -H Metadata-Flavor:Google ` +
        `http://metadata.google.internal/computeMetadata/v1/instance/zone | cut -d/ -f4)" --quiet'`
      );
    case "azure":
      return (
        `systemd-run --on-active=${minutes}m --unit skyplane-expire /bin/sh -c ` +
        `'az login --identity >/dev/null && az vm delete --yes --ids "$(curl -s -H Metadata:true ` +
        `"http://169.254.169.254/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text")"'`
      );
    default: {
      const never: never = ref;
      throw new Error(`unknown provider ${JSON.stringify(never)}`);
    }
  }
}

const indent = (text: string, by: number) =>
  text
    .split("\n")
    .map((l) => " ".repeat(by) + l)
    .join("\n");

/** Renders the cloud-init user data of one gateway VM. */
export function renderBootScript(spec: BootSpec): string {
  const minutes = Math.max(1, Math.ceil((spec.expireAt - spec.now) / 60_000));
  const run = [
    "docker run -d --restart=on-failure:5 --name skyplane-gateway --network host",
    "--env-file /etc/skyplane/secrets.env",
    "-v /etc/skyplane/program.json:/etc/skyplane/program.json:ro",
    spec.image,
    "--program /etc/skyplane/program.json",
    `--control-host 0.0.0.0 --control-port ${spec.controlPort}`,
    `--data-host 0.0.0.0 --data-port ${spec.dataPort}`,
    `--expire-at ${spec.expireAt}`,
  ].join(" ");
  return [
    "#cloud-config",
    `# skyplane gateway ${spec.program.gatewayId} (${spec.program.region}); rendered by gateway-image/boot.ts`,
    "write_files:",
    "  - path: /etc/sysctl.d/60-skyplane.conf",
    "    permissions: '0644'",
    "    content: |",
    indent(SYSCTL.join("\n"), 6),
    "  - path: /etc/skyplane/program.json",
    "    permissions: '0644'",
    "    content: |",
    indent(JSON.stringify(spec.program, null, 2), 6),
    "runcmd:",
    "  - [modprobe, tcp_bbr]",
    "  - [sysctl, --system]",
    `  - [sh, -c, ${JSON.stringify(`${selfDestruct(spec.secrets, minutes)}`)}]`,
    "  - [sh, -c, 'umask 077 && mkdir -p /etc/skyplane']",
    `  - [sh, -c, ${JSON.stringify(
      `umask 077 && ${fetchSecrets(spec.secrets)} | jq -r '"SKYPLANE_GATEWAY_TOKEN=\\(.token)\\nSKYPLANE_GATEWAY_KEY=\\(.key)"' > /etc/skyplane/secrets.env`,
    )}]`,
    `  - [sh, -c, ${JSON.stringify(run)}]`,
    "",
  ].join("\n");
}
