import type { GatewayProgram } from "../planner/program";
import { SkyplaneError } from "../errors";
import { BOOT_JSON_PATH, BOOT_JSON_SOURCE } from "./boot-json";
import { cloudFunctions, ENDPOINT_VARS, endpointVar, gatewayEnvironment, shq } from "./boot-cloud";
import { BUNDLE_ENTRY } from "./bundle";

/*
 * The boot script of a gateway VM, rendered as cloud-init: nothing is provisioned over SSH, and nothing
 * but a stock Ubuntu image is needed (sh, coreutils, curl, tar/xz, systemd; no cloud CLI, no Docker).
 * The script tunes the network stack and arms the VM's expiry first, so that whatever fails after,
 * the VM still ends on time. Then it installs a pinned Node runtime and the gateway bundle from the
 * stack's artifacts store, each checked against its sha256 before anything is unpacked; reads the
 * dataplane's token and key from the cloud's secret store with the VM's own identity (no secret sits in
 * user data, which the metadata service serves to anyone on the VM) into memory only (/run, a tmpfs,
 * root-only); and starts the gateway as a systemd unit with its secrets in an environment file, never in
 * argv. A failure logs `skyplane-boot: FAILED …` (cloud-init's output, on the serial console) and ends
 * the VM. The expiry is a wall-clock time checked every minute and after every boot: unlike
 * `shutdown -P +N`, a reboot does not cancel it. Only the endpoints (`BootEndpoints`) may differ between
 * a cloud and a rehearsal of it. Pure: the same spec renders the same bytes.
 */

/** Where the dataplane's secrets live, per cloud. */
export type SecretRef =
  | { readonly provider: "aws"; readonly secretArn: string; readonly region: string }
  | { readonly provider: "gcp"; readonly secret: string; readonly project: string }
  | { readonly provider: "azure"; readonly vault: string; readonly secret: string };

/** An object in a stack's artifacts store (the gateway bundle), in the gateway's own cloud. */
export type ArtifactRef =
  | {
      readonly provider: "aws";
      readonly region: string;
      readonly bucket: string;
      readonly key: string;
    }
  | { readonly provider: "gcp"; readonly bucket: string; readonly object: string }
  | {
      readonly provider: "azure";
      readonly account: string;
      readonly container: string;
      readonly blob: string;
    };

/** Every address the boot script or the gateway dials; nothing else may differ in a rehearsal. */
export interface BootEndpoints {
  /** AWS instance metadata (IMDSv2): http://169.254.169.254. */
  awsMetadata: string;
  /** GCP metadata server: http://metadata.google.internal. */
  gcpMetadata: string;
  /** Azure IMDS: http://169.254.169.254. */
  azureMetadata: string;
  /** Amazon S3, path-style: https://s3.<region>.amazonaws.com. */
  s3: string;
  /** AWS Secrets Manager: https://secretsmanager.<region>.amazonaws.com. */
  secretsManager: string;
  /** Cloud Storage JSON API: https://storage.googleapis.com. */
  gcs: string;
  /** GCP Secret Manager: https://secretmanager.googleapis.com. */
  gcpSecretManager: string;
  /** Compute Engine API: https://compute.googleapis.com. */
  gcpCompute: string;
  /** The artifacts account's blob service: https://<account>.blob.core.windows.net. */
  azureBlob: string;
  /** The secret's vault: https://<vault>.vault.azure.net. */
  azureKeyVault: string;
  /** Azure Resource Manager: https://management.azure.com. */
  azureManagement: string;
}

/** Where a VM's Node runtime comes from: a pinned release tarball, or a node binary on a user's image. */
export type NodeSource =
  { readonly url: string; readonly sha256: string } | { readonly fromImage: string };

/** What a gateway VM needs to boot. */
export interface BootSpec {
  /** The gateway's program (no secrets in it). */
  readonly program: GatewayProgram;
  /** Where the token and key are. */
  readonly secrets: SecretRef;
  /** Control API port (opened to the client's address only). */
  readonly controlPort: number;
  /** Data port (opened to peer gateways only). */
  readonly dataPort: number;
  /** Epoch ms at which the VM ends itself (an absolute deadline, whenever the VM boots). */
  readonly expireAt: number;
  /** The gateway bundle (bundle.ts) in the artifacts store, and its sha256. */
  readonly bundle: { readonly artifact: ArtifactRef; readonly sha256: string };
  /** The Node runtime: the pinned tarball (node-runtime.ts) or a node path on a user's image. */
  readonly node: NodeSource;
  /** Rehearsal only: other addresses for the clouds' services. Default the clouds' own. */
  readonly endpoints?: Partial<BootEndpoints>;
}

/** What a gateway boots from besides its program, ports and expiry: what components hand the renderer. */
export type GatewayBoot = Pick<BootSpec, "bundle" | "node" | "endpoints">;

/** The folders and files the boot script writes: what a rehearsal must give it privately. */
export const BOOT_PATHS = {
  /** Memory-only (tmpfs), root-only: every secret and credential, and nothing else. */
  run: "/run/skyplane",
  /** The Node runtime (`node/`) and the unpacked gateway bundle (`gateway/`). */
  opt: "/opt/skyplane",
  /** The gateway's program. */
  etc: "/etc/skyplane",
  /** The scripts' shared functions and the JSON helper. */
  lib: "/usr/local/lib/skyplane",
  /** skyplane-boot and skyplane-expire. */
  sbin: "/usr/local/sbin",
  /** The expiry's timer and service. */
  units: "/etc/systemd/system",
  /** The network tuning. */
  sysctl: "/etc/sysctl.d/60-skyplane.conf",
} as const;

/** The transient systemd unit the gateway runs as. */
export const GATEWAY_UNIT = "skyplane-gateway";

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

/** What the default endpoints are formed from; a gateway dials only its own cloud's. */
export interface EndpointScope {
  /** The region of Secrets Manager (and of S3 unless `s3Region`); default us-east-1. */
  readonly awsRegion?: string;
  /** The region of the artifacts bucket; default `awsRegion`. */
  readonly s3Region?: string;
  /** The storage account of the artifacts container. */
  readonly azureAccount?: string;
  /** The Key Vault of the secret. */
  readonly azureVault?: string;
}

/**
 * The clouds' own addresses. Without an Azure account or vault, those two are the services' bare
 * domains, which no gateway dials (a gateway dials only its own cloud's, formed from its spec).
 */
export function defaultEndpoints(scope: EndpointScope = {}): BootEndpoints {
  const aws = scope.awsRegion ?? "us-east-1";
  const host = (name: string | undefined, domain: string) =>
    `https://${name ? `${name}.` : ""}${domain}`;
  return {
    awsMetadata: "http://169.254.169.254",
    gcpMetadata: "http://metadata.google.internal",
    azureMetadata: "http://169.254.169.254",
    s3: `https://s3.${scope.s3Region ?? aws}.amazonaws.com`,
    secretsManager: `https://secretsmanager.${aws}.amazonaws.com`,
    gcs: "https://storage.googleapis.com",
    gcpSecretManager: "https://secretmanager.googleapis.com",
    gcpCompute: "https://compute.googleapis.com",
    azureBlob: host(scope.azureAccount, "blob.core.windows.net"),
    azureKeyVault: host(scope.azureVault, "vault.azure.net"),
    azureManagement: "https://management.azure.com",
  };
}

/** Every address a gateway booted from `spec` dials: its cloud's own, with the spec's overrides. */
export function resolveEndpoints(
  spec: Pick<BootSpec, "secrets" | "bundle" | "endpoints">,
): BootEndpoints {
  const { secrets } = spec;
  const artifact = spec.bundle.artifact;
  return {
    ...defaultEndpoints({
      awsRegion: secrets.provider === "aws" ? secrets.region : undefined,
      s3Region: artifact.provider === "aws" ? artifact.region : undefined,
      azureAccount: artifact.provider === "azure" ? artifact.account : undefined,
      azureVault: secrets.provider === "azure" ? secrets.vault : undefined,
    }),
    ...spec.endpoints,
  };
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Refuses a spec the script cannot carry safely: the renderer quotes every value, but checks these. */
function check(spec: BootSpec): void {
  const bad = (what: string) => {
    throw new SkyplaneError("BAD_BOOT_SPEC", `gateway ${spec.program.gatewayId}: ${what}`);
  };
  if (!SHA256.test(spec.bundle.sha256))
    bad(
      `the bundle's sha256 must be 64 lowercase hex digits, not ${JSON.stringify(spec.bundle.sha256)}`,
    );
  if ("sha256" in spec.node && !SHA256.test(spec.node.sha256))
    bad(
      `the Node runtime's sha256 must be 64 lowercase hex digits, not ${JSON.stringify(spec.node.sha256)}`,
    );
  if ("url" in spec.node && !/^https?:\/\/\S+$/.test(spec.node.url))
    bad(`the Node runtime's url must be http(s), not ${JSON.stringify(spec.node.url)}`);
  if ("fromImage" in spec.node && !/^\/\S+$/.test(spec.node.fromImage))
    bad(`the image's node must be an absolute path, not ${JSON.stringify(spec.node.fromImage)}`);
  for (const [name, port] of [
    ["controlPort", spec.controlPort],
    ["dataPort", spec.dataPort],
  ] as const)
    if (!Number.isInteger(port) || port < 1 || port > 65535) bad(`${name} ${port} is not a port`);
  if (!Number.isFinite(spec.expireAt)) bad(`expireAt ${spec.expireAt} is not a time`);
  for (const [name, url] of Object.entries(spec.endpoints ?? {}))
    if (url !== undefined && !/^https?:\/\/[^\s'"\\]+$/.test(url))
      bad(`endpoint ${name} must be an http(s) URL, not ${JSON.stringify(url)}`);
}

/** The expiry as systemd's calendar syntax, rounded up to the second: `2026-11-27 14:00:00 UTC`. */
function calendar(expireAt: number): string {
  const iso = new Date(Math.ceil(expireAt / 1000) * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** Where the gateway bundle is, as a URI for messages. */
function artifactUri(a: ArtifactRef): string {
  switch (a.provider) {
    case "aws":
      return `s3://${a.bucket}/${a.key}`;
    case "gcp":
      return `gs://${a.bucket}/${a.object}`;
    case "azure":
      return `azure://${a.account}/${a.container}/${a.blob}`;
    default: {
      const never: never = a;
      throw new SkyplaneError("UNREACHABLE", `unknown artifact ${JSON.stringify(never)}`);
    }
  }
}

/** The secret, as messages name it. */
function secretName(s: SecretRef): string {
  switch (s.provider) {
    case "aws":
      return s.secretArn;
    case "gcp":
      return `projects/${s.project}/secrets/${s.secret}`;
    case "azure":
      return `${s.vault}/${s.secret}`;
    default: {
      const never: never = s;
      throw new SkyplaneError("UNREACHABLE", `unknown secret store ${JSON.stringify(never)}`);
    }
  }
}

const NODE_DIR = `${BOOT_PATHS.opt}/node`;
const GATEWAY_DIR = `${BOOT_PATHS.opt}/gateway`;
const CLOUD_SH = `${BOOT_PATHS.lib}/cloud.sh`;
const PROGRAM = `${BOOT_PATHS.etc}/program.json`;

/** cloud.sh: sourced by both scripts; the endpoints, the helpers, and the cloud's functions. */
function cloudScript(spec: BootSpec): string {
  const endpoints = resolveEndpoints(spec);
  const node = "fromImage" in spec.node ? spec.node.fromImage : `${NODE_DIR}/bin/node`;
  return [
    "# skyplane: sourced by skyplane-boot and skyplane-expire. Where this VM's cloud answers, how the VM",
    "# reads its identity's credentials, and how it ends. Secrets reach curl only through root-only files",
    "# in /run/skyplane (-H @file, -K file) or pipes, never its command line, which /proc shows to all.",
    "umask 077",
    `RUN=${BOOT_PATHS.run}`,
    `LIB=${BOOT_PATHS.lib}`,
    `NODE=${shq(node)}`,
    'mkdir -p "$RUN" && chmod 0700 "$RUN"',
    ...ENDPOINT_VARS[spec.secrets.provider].map(
      (name) => `${endpointVar(name)}=${shq(endpoints[name].replace(/\/+$/, ""))}`,
    ),
    "say() { printf 'skyplane-boot: %s\\n' \"$*\"; }",
    "# Retries what may pass (refused connections, timeouts, 429, 5xx); fails on any other HTTP error.",
    "fetch() {",
    "  curl --fail --silent --show-error --retry 5 --retry-connrefused --retry-delay 2 \\",
    '    --connect-timeout 10 --max-time 900 "$@"',
    "}",
    "# A metadata service's token answer (stdin) as a curl header file (stdout). sed, not node: ending",
    "# the VM must work before the Node runtime is installed.",
    'bearer() { sed -n \'s/.*"access_token" *: *"\\([^"]*\\)".*/Authorization: Bearer \\1/p\'; }',
    ...cloudFunctions(spec.secrets, spec.bundle.artifact),
  ].join("\n");
}

/** skyplane-boot: the boot itself, run once by cloud-init. */
function bootScript(spec: BootSpec): string {
  const { program } = spec;
  const uri = artifactUri(spec.bundle.artifact);
  const secret = secretName(spec.secrets);
  const env = gatewayEnvironment(spec.secrets, spec.endpoints ?? {});
  const install =
    "fromImage" in spec.node
      ? [`[ -x "$NODE" ] || fail ${shq(`no Node runtime at ${spec.node.fromImage} on this image`)}`]
      : [
          'say "installing the Node runtime"',
          `(umask 022 && mkdir -p ${NODE_DIR} && fetch -o "$OPT/node.tar.xz" ${shq(spec.node.url)}) ||`,
          `  fail ${shq(`could not download the Node runtime ${spec.node.url}`)}`,
          `verify "$OPT/node.tar.xz" ${spec.node.sha256} ||`,
          `  fail ${shq(`the Node runtime's sha256 is not ${spec.node.sha256}: refused`)}`,
          `(umask 022 && tar -xJf "$OPT/node.tar.xz" -C ${NODE_DIR} --strip-components=1 --no-same-owner) ||`,
          "  fail 'could not unpack the Node runtime'",
          'rm -f "$OPT/node.tar.xz"',
        ];
  const daemon = [
    '"$NODE"',
    `${GATEWAY_DIR}/${BUNDLE_ENTRY}`,
    `--program ${PROGRAM}`,
    `--control-host 0.0.0.0 --control-port ${spec.controlPort}`,
    `--data-host 0.0.0.0 --data-port ${spec.dataPort}`,
    `--expire-at ${spec.expireAt}`,
  ];
  return [
    "#!/bin/sh",
    `# Boots skyplane gateway ${program.gatewayId} (${program.region}) on a stock image: the Node runtime and`,
    "# the gateway bundle, each checked against its pinned sha256 before it is unpacked; the dataplane's",
    "# secret into memory; then the gateway as a systemd unit. A failure ends this VM.",
    `. ${CLOUD_SH}`,
    "fail() {",
    '  say "FAILED: $1"',
    "  end_vm 'its boot failed'",
    "  exit 1",
    "}",
    "# sha256sum reads '<hash>  <file>': nothing is unpacked before its hash is the pinned one.",
    'verify() { printf \'%s  %s\\n\' "$2" "$1" | sha256sum --check --status -; }',
    `OPT=${BOOT_PATHS.opt}`,
    '(umask 022 && mkdir -p "$OPT") || fail "cannot create $OPT"',
    ...install,
    'say "reading this VM\'s credentials from the metadata service"',
    "credentials || fail 'no credentials for this VM from the metadata service'",
    `say ${shq(`fetching the gateway bundle ${uri}`)}`,
    `(umask 022 && mkdir -p ${GATEWAY_DIR}) && fetch_bundle "$OPT/gateway.tar.gz" ||`,
    `  fail ${shq(`could not download the gateway bundle ${uri}`)}`,
    `verify "$OPT/gateway.tar.gz" ${spec.bundle.sha256} ||`,
    `  fail ${shq(`the gateway bundle's sha256 is not ${spec.bundle.sha256}: refused`)}`,
    `(umask 022 && tar -xzf "$OPT/gateway.tar.gz" -C ${GATEWAY_DIR} --no-same-owner) ||`,
    "  fail 'could not unpack the gateway bundle'",
    'rm -f "$OPT/gateway.tar.gz"',
    `say ${shq(`reading the dataplane's secret ${secret}`)}`,
    `fetch_secret "$RUN/secret.json" || fail ${shq(`could not read the dataplane's secret ${secret}`)}`,
    `"$NODE" "$LIB/json.js" env ${spec.secrets.provider} <"$RUN/secret.json" >"$RUN/gateway.env"`,
    "read_ok=$?",
    'rm -f "$RUN/secret.json"',
    `[ "$read_ok" = 0 ] || fail ${shq(`the dataplane's secret ${secret} is not {"token", "key"}`)}`,
    'say "starting the gateway"',
    "# Its secrets in an environment file that systemd reads as root, never in argv; it runs as a user of",
    "# its own (DynamicUser), restarted if it fails, until it exits at its expiry.",
    `systemd-run --unit=${GATEWAY_UNIT} ${shq(`--description=skyplane gateway ${program.gatewayId}`)} \\`,
    `  --property=EnvironmentFile=${BOOT_PATHS.run}/gateway.env --property=DynamicUser=yes \\`,
    "  --property=Restart=on-failure --property=RestartSec=2s --property=LimitNOFILE=1048576 \\",
    ...Object.entries(env).map(([k, v]) => `  ${shq(`--setenv=${k}=${v}`)} \\`),
    `  ${daemon.join(" ")} ||`,
    "  fail 'could not start the gateway unit'",
    `say ${shq(`gateway ${program.gatewayId} started: control port ${spec.controlPort}, data port ${spec.dataPort}`)}`,
  ].join("\n");
}

/** The expiry: a script and the systemd units that run it. See systemd.timer(5) and systemd.time(7). */
function expiryFiles(spec: BootSpec): BootFile[] {
  const seconds = Math.ceil(spec.expireAt / 1000);
  const when = new Date(seconds * 1000).toISOString();
  return [
    {
      path: `${BOOT_PATHS.sbin}/skyplane-expire`,
      permissions: "0755",
      content: [
        "#!/bin/sh",
        `# Ends this skyplane gateway VM once its expiry (${when}) has passed.`,
        `[ "$(date +%s)" -ge ${seconds} ] || exit 0`,
        `. ${CLOUD_SH}`,
        `end_vm ${shq(`it expired at ${when}`)}`,
      ].join("\n"),
    },
    {
      path: `${BOOT_PATHS.units}/skyplane-expire.service`,
      permissions: "0644",
      content: [
        "[Unit]",
        "Description=End this skyplane gateway VM once its expiry has passed",
        "[Service]",
        "Type=oneshot",
        `ExecStart=${BOOT_PATHS.sbin}/skyplane-expire`,
      ].join("\n"),
    },
    {
      // The timer fires at the deadline, a minute after every boot and every minute after that; the
      // script acts only once the clock is past the deadline, so a reboot and a failed ending are retried.
      path: `${BOOT_PATHS.units}/skyplane-expire.timer`,
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

/** One file of cloud-init's write_files. */
export interface BootFile {
  readonly path: string;
  readonly permissions: string;
  readonly content: string;
}

/** The files the boot writes, in order: what `renderBootScript` puts under write_files. */
export function bootFiles(spec: BootSpec): BootFile[] {
  check(spec);
  return [
    { path: BOOT_PATHS.sysctl, permissions: "0644", content: SYSCTL.join("\n") },
    { path: PROGRAM, permissions: "0644", content: JSON.stringify(spec.program, null, 2) },
    { path: CLOUD_SH, permissions: "0644", content: cloudScript(spec) },
    { path: BOOT_JSON_PATH, permissions: "0644", content: BOOT_JSON_SOURCE.trimEnd() },
    ...expiryFiles(spec),
    { path: `${BOOT_PATHS.sbin}/skyplane-boot`, permissions: "0755", content: bootScript(spec) },
  ];
}

/** cloud-init's runcmd: the tuning and the expiry first, then the boot. */
export const BOOT_RUNCMD: readonly (readonly string[])[] = [
  ["modprobe", "tcp_bbr"],
  ["sysctl", "--system"],
  ["systemctl", "daemon-reload"],
  ["systemctl", "enable", "--now", "skyplane-expire.timer"],
  [`${BOOT_PATHS.sbin}/skyplane-boot`],
];

const indent = (text: string, by: number) =>
  text
    .split("\n")
    .map((l) => (l ? " ".repeat(by) + l : l))
    .join("\n");

/** Renders the cloud-init user data of one gateway VM. */
export function renderBootScript(spec: BootSpec): string {
  const files = bootFiles(spec);
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
    ...BOOT_RUNCMD.map((cmd) => `  - [${cmd.join(", ")}]`),
    "",
  ].join("\n");
}
