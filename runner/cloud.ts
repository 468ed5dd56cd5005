import * as fs from "node:fs";
import * as path from "node:path";
import type { PluginInfo } from "@pulumi/pulumi/automation";
import { CLOUD_TTL_MINUTES, MAX_TTL_MINUTES } from "../common/ttl";
import { cloudsOf, CloudSettings, missingCloudSettings } from "../planner/cloud-settings";
import { UserError } from "../errors";
import type { Topology } from "../planner/topology";
import {
  CredentialProbe,
  defaultAzureAccount,
  defaultGcpProject,
  localProbe,
  requireCloudCredentials,
  throwawaySshKey,
} from "./credentials";

/*
 * What the runner does before it brings a cloud route's stack up: it assembles the stack's
 * `skyplane:cloud` settings (what the credentials imply filled in) and checks, before anything is created,
 * that nothing the clouds need is missing, each with what to do about it. No image is needed: gateways
 * boot the clouds' stock images unless the settings name images of the user's.
 */

/** The Pulumi provider plugin each cloud needs, named as `pulumi plugin install resource NAME` takes it. */
const PROVIDER_PACKAGES: Record<string, { plugin: string; npm: string }> = {
  aws: { plugin: "aws", npm: "@pulumi/aws" },
  gcp: { plugin: "gcp", npm: "@pulumi/gcp" },
  azure: { plugin: "azure-native", npm: "@pulumi/azure-native" },
};

/**
 * Minutes a transfer's gateways should live: three times the planned transfer time and half an hour, at
 * least `floor` and at most a day. A TTL shorter than the transfer would end the gateways mid-copy.
 */
export function transferTtlMinutes(bytes: number, plannedGbps: number, floor: number): number {
  const minutes =
    plannedGbps > 0 ? (3 * (bytes * 8)) / (plannedGbps * 1e9) / 60 + 30 : MAX_TTL_MINUTES;
  return Math.min(MAX_TTL_MINUTES, Math.max(floor, Math.ceil(minutes)));
}

/**
 * A dataplane's gateway TTL in minutes, or undefined for the stack's default: the one asked for, raised to
 * cover a keep-warm period (a warm gateway must not end before its expiry), at most a day.
 */
export function dataplaneTtlMinutes(
  opts: { ttlMinutes?: number; keepWarmSeconds?: number },
  defaultMinutes: number,
): number | undefined {
  const warm = Math.ceil((opts.keepWarmSeconds ?? 0) / 60);
  if (opts.ttlMinutes === undefined && warm <= defaultMinutes) return undefined;
  return Math.min(MAX_TTL_MINUTES, Math.max(opts.ttlMinutes ?? defaultMinutes, warm));
}

/** Where the settings of a cloud route come from, most specific last. */
export interface CloudSettingsSources {
  /** What the route's stack already has (`skyplane:cloud`): set by hand or by an earlier run. */
  readonly stack?: Partial<CloudSettings>;
  /** What the client was given (`new SkyplaneClient({ cloud })`). */
  readonly client?: Partial<CloudSettings>;
  /** The queued copies: their sources are read, their destinations written. */
  readonly jobs: ReadonlyArray<{ readonly src: string; readonly dst: string }>;
  /** Environment (SKYPLANE_CLIENT_CIDR). */
  readonly env?: NodeJS.ProcessEnv;
  /** What this machine shows of the clouds' credentials; default the real one over `env`. */
  readonly probe?: CredentialProbe;
  /** Now, epoch ms. */
  readonly now: number;
}

/** How to provide each setting, for the error that lists what is missing. */
const HOW: Record<string, string> = {
  clientCidr:
    "your public address as a CIDR: SKYPLANE_CLIENT_CIDR=$(curl -s https://checkip.amazonaws.com)/32",
  buckets: "queue the copies before provision(), so the gateways are granted exactly their buckets",
  "gcp.project":
    "set GOOGLE_CLOUD_PROJECT (or use credentials that name a project: a service account key, or 'gcloud config set project'), or pulumi config set --path 'skyplane:cloud.gcp.project' PROJECT",
  "azure.subscriptionId":
    "set ARM_SUBSCRIPTION_ID, or 'az login' (its default subscription is taken), or the client's cloud option",
  "azure.tenantId": "set ARM_TENANT_ID, or 'az login', or the client's cloud option",
};

/**
 * The settings a cloud route's stack is brought up with. The expiry is kept while it still leaves half
 * the TTL (so a reused stack is not replaced), else set to now + TTL. The GCP project and the Azure
 * subscription and tenant default to what the credentials name, and the SSH key Azure requires to a
 * key nobody holds (kept in the stack, so that its VMs are not replaced). Throws a UserError, before
 * anything is created, when a cloud of the route shows no credentials, or listing each missing setting
 * and how to give it.
 */
export function resolveCloudSettings(
  topology: Topology,
  stackName: string,
  sources: CloudSettingsSources,
): CloudSettings {
  const merged: Partial<CloudSettings> = { ...sources.stack, ...sources.client };
  const env = sources.env ?? process.env;
  const probe = sources.probe ?? localProbe(env);
  const clouds = cloudsOf(topology);
  requireCloudCredentials(clouds, probe);
  merged.clientCidr ??= env.SKYPLANE_CLIENT_CIDR;
  if (clouds.includes("gcp") && !merged.gcp?.project) {
    const project = defaultGcpProject(probe);
    if (project) merged.gcp = { ...merged.gcp, project };
  }
  if (clouds.includes("azure")) {
    const account = defaultAzureAccount(probe);
    const azure = { ...merged.azure };
    azure.subscriptionId ||= account.subscriptionId ?? "";
    azure.tenantId ||= account.tenantId ?? "";
    azure.sshPublicKey ||= throwawaySshKey();
    merged.azure = azure as CloudSettings["azure"];
  }
  const read = [...(merged.buckets?.read ?? []), ...sources.jobs.map((j) => j.src)];
  const write = [...(merged.buckets?.write ?? []), ...sources.jobs.map((j) => j.dst)];
  if (read.length > 0 && write.length > 0)
    merged.buckets = { read: [...new Set(read)].sort(), write: [...new Set(write)].sort() };
  const ttl = merged.ttlMinutes ?? CLOUD_TTL_MINUTES;
  if (!(Number(merged.expireAt) > sources.now + (ttl * 60_000) / 2))
    merged.expireAt = sources.now + ttl * 60_000;
  const missing = missingCloudSettings(topology, merged);
  if (missing.length > 0) {
    const lines = missing.map(
      (m) =>
        `  ${m}: ${HOW[m] ?? `pulumi config set --path 'skyplane:cloud.${m}' VALUE --stack ${stackName}, or the client's cloud option`}`,
    );
    throw new UserError(
      "MISSING_CLOUD_SETTINGS",
      `the gateways of ${stackName} cannot be provisioned without:\n${lines.join("\n")}\n` +
        "README: Running on a real cloud.",
    );
  }
  return merged as CloudSettings;
}

/** The version of an installed npm package of this project (the provider SDKs pin their plugin's). */
function packageVersion(name: string): string {
  const pkg = require.resolve(`${name}/package.json`, {
    paths: [path.join(__dirname, "..", "..")],
  });
  return (JSON.parse(fs.readFileSync(pkg, "utf8")) as { version: string }).version;
}

/** Where an engine keeps its plugins, and its CLI. */
export interface EngineLocation {
  readonly pulumiHome: string;
  readonly cli: string;
}

/** Whether the engine has each cloud's provider plugin, and the command that installs a missing one. */
export async function providerPlugins(
  installed: () => Promise<PluginInfo[]>,
  engine: EngineLocation,
): Promise<
  Record<string, { plugin: string; version: string; installed: boolean; install: string }>
> {
  const have = await installed();
  return Object.fromEntries(
    Object.entries(PROVIDER_PACKAGES).map(([cloud, p]) => {
      const version = packageVersion(p.npm);
      return [
        cloud,
        {
          plugin: p.plugin,
          version,
          installed: have.some(
            (h) => h.kind === "resource" && h.name === p.plugin && h.version === version,
          ),
          install: `PULUMI_HOME=${engine.pulumiHome} ${engine.cli} plugin install resource ${p.plugin} ${version}`,
        },
      ];
    }),
  );
}

/**
 * Fails, saying how to install them, when the engine lacks the provider plugins of the topology's
 * clouds (they are downloaded once; skyplane never fetches plugins on its own).
 */
export async function requireProviderPlugins(
  topology: Topology,
  installed: () => Promise<PluginInfo[]>,
  engine: EngineLocation,
): Promise<void> {
  const plugins = await providerPlugins(installed, engine);
  const missing = cloudsOf(topology)
    .map((c) => plugins[c])
    .filter((p) => !p.installed);
  if (missing.length > 0) {
    throw new UserError(
      "PROVIDER_PLUGIN_MISSING",
      `the engine lacks the provider plugin${missing.length > 1 ? "s" : ""} ${missing.map((p) => `${p.plugin} ${p.version}`).join(", ")}; install ${missing.length > 1 ? "them" : "it"} once with\n` +
        missing.map((p) => `  ${p.install}`).join("\n"),
    );
  }
}
