import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Cloud } from "../planner/cloud-settings";
import { SkyplaneError, UserError } from "../errors";

/*
 * Where a cloud route's credentials come from, seen from this machine before anything is created: the
 * variables and files the clouds' SDKs and Pulumi providers read, and whether this machine is a VM of that
 * cloud (whose own identity may then serve). Also what those credentials say by default: the GCP project,
 * the Azure subscription and tenant. Pure over a probe, so that every case is tested without a cloud.
 */

/** What this machine shows: its environment, its home folder, and its files (read-only). */
export interface CredentialProbe {
  /** The environment the providers and stores see. */
  readonly env: NodeJS.ProcessEnv;
  /** The user's home folder (`~`). */
  readonly home: string;
  /** Whether a file exists. */
  exists(file: string): boolean;
  /** A small file's text, or undefined when it cannot be read. */
  read(file: string): string | undefined;
}

/** The probe of this machine, over `env`. */
export function localProbe(env: NodeJS.ProcessEnv = process.env): CredentialProbe {
  return {
    env,
    home: env.HOME ?? os.homedir(),
    exists: (file) => fs.existsSync(file),
    read: (file) => {
      try {
        return fs.readFileSync(file, "utf8");
      } catch {
        return undefined;
      }
    },
  };
}

/** How to give each cloud credentials, for the error that says they are missing. */
export const HOW_TO_SIGN_IN: Record<Cloud, string> = {
  aws: "set AWS_PROFILE (after 'aws configure' or 'aws sso login'), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the client an AWSConfig",
  gcp: "run 'gcloud auth application-default login', or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or give the client a GCPConfig",
  azure:
    "run 'az login', or set ARM_CLIENT_ID with ARM_CLIENT_SECRET (a service principal) and ARM_TENANT_ID",
};

/** The first line of a file, trimmed. */
const firstLine = (text: string | undefined) => text?.split("\n")[0].trim();

/** This machine's DMI field (what cloud-init's ds-identify reads to tell clouds apart). */
const dmi = (probe: CredentialProbe, field: string) =>
  firstLine(probe.read(`/sys/class/dmi/id/${field}`));

/** Whether `v` is set to something. */
const set = (v: string | undefined) => v !== undefined && v !== "";

/**
 * Where `cloud`'s credentials come from on this machine, in the order its SDK looks, or undefined when
 * none can be seen. A variable naming a file that is not there counts as none.
 */
export function credentialSource(cloud: Cloud, probe: CredentialProbe): string | undefined {
  const env = probe.env;
  switch (cloud) {
    case "aws": {
      if (set(env.AWS_ACCESS_KEY_ID) && set(env.AWS_SECRET_ACCESS_KEY))
        return "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
      if (set(env.AWS_PROFILE)) return `the profile ${env.AWS_PROFILE} (AWS_PROFILE)`;
      if (
        set(env.AWS_WEB_IDENTITY_TOKEN_FILE) &&
        probe.exists(env.AWS_WEB_IDENTITY_TOKEN_FILE ?? "")
      )
        return "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)";
      if (
        set(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) ||
        set(env.AWS_CONTAINER_CREDENTIALS_FULL_URI)
      )
        return "the container's credentials (AWS_CONTAINER_CREDENTIALS_*)";
      const shared =
        env.AWS_SHARED_CREDENTIALS_FILE || path.join(probe.home, ".aws", "credentials");
      if (probe.exists(shared)) return shared;
      const config = env.AWS_CONFIG_FILE || path.join(probe.home, ".aws", "config");
      if (probe.exists(config)) return config;
      const ec2 =
        dmi(probe, "sys_vendor") === "Amazon EC2" ||
        /^ec2/i.test(firstLine(probe.read("/sys/hypervisor/uuid")) ?? "");
      if (ec2 && env.AWS_EC2_METADATA_DISABLED !== "true")
        return "this EC2 instance's role (instance metadata)";
      return undefined;
    }
    case "gcp": {
      const key = env.GOOGLE_APPLICATION_CREDENTIALS;
      if (set(key)) return probe.exists(key ?? "") ? key : undefined;
      if (set(env.GOOGLE_CREDENTIALS)) return "GOOGLE_CREDENTIALS";
      if (set(env.GOOGLE_OAUTH_ACCESS_TOKEN)) return "GOOGLE_OAUTH_ACCESS_TOKEN";
      const adc = path.join(gcloudConfigDir(probe), "application_default_credentials.json");
      if (probe.exists(adc)) return adc;
      if (dmi(probe, "product_name") === "Google Compute Engine")
        return "this Compute Engine VM's service account (metadata server)";
      return undefined;
    }
    case "azure": {
      const id = env.ARM_CLIENT_ID || env.AZURE_CLIENT_ID;
      const secret =
        env.ARM_CLIENT_SECRET ||
        env.AZURE_CLIENT_SECRET ||
        env.ARM_CLIENT_CERTIFICATE_PATH ||
        env.ARM_OIDC_TOKEN ||
        env.ARM_OIDC_TOKEN_FILE_PATH;
      if (set(id) && (set(secret) || env.ARM_USE_OIDC === "true"))
        return "a service principal (ARM_CLIENT_ID)";
      if (env.ARM_USE_MSI === "true") return "a managed identity (ARM_USE_MSI)";
      const profile = path.join(azureConfigDir(probe), "azureProfile.json");
      if (azureProfile(probe)?.subscriptions?.length) return `the Azure CLI's login (${profile})`;
      // Azure stamps its VMs' chassis asset tag with this value (cloud-init's ds-identify checks it).
      if (dmi(probe, "chassis_asset_tag") === "7783-7084-3265-9085-8269-3286-77")
        return "this Azure VM's managed identity";
      return undefined;
    }
    default: {
      const never: never = cloud;
      throw new SkyplaneError("UNREACHABLE", `unknown cloud ${String(never)}`);
    }
  }
}

/**
 * Fails, before anything is created, when a cloud of the route shows no credentials on this machine,
 * naming each such cloud and how to sign in to it.
 */
export function requireCloudCredentials(clouds: readonly Cloud[], probe: CredentialProbe): void {
  const missing = clouds.filter((c) => credentialSource(c, probe) === undefined);
  if (missing.length === 0) return;
  throw new UserError(
    "NO_CREDENTIALS",
    `no credentials for ${missing.join(", ")}, which the route's gateways are on:\n` +
      missing.map((c) => `  ${c}: ${HOW_TO_SIGN_IN[c]}`).join("\n"),
  );
}

/** gcloud's configuration folder. */
function gcloudConfigDir(probe: CredentialProbe): string {
  return probe.env.CLOUDSDK_CONFIG || path.join(probe.home, ".config", "gcloud");
}

/** The Azure CLI's configuration folder. */
function azureConfigDir(probe: CredentialProbe): string {
  return probe.env.AZURE_CONFIG_DIR || path.join(probe.home, ".azure");
}

/** A JSON file's object, or undefined. The Azure CLI writes its files with a byte-order mark. */
function readJson<T>(probe: CredentialProbe, file: string): T | undefined {
  const text = probe.read(file);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text.replace(/^\uFEFF/, "")) as T;
  } catch {
    return undefined;
  }
}

/** The subscriptions the Azure CLI is signed in to. */
function azureProfile(probe: CredentialProbe):
  | {
      subscriptions?: Array<{ id?: string; tenantId?: string; isDefault?: boolean }>;
    }
  | undefined {
  return readJson(probe, path.join(azureConfigDir(probe), "azureProfile.json"));
}

/**
 * The GCP project the credentials name: the variables the Google SDKs read, else the key file's project,
 * else gcloud's quota project of the application default credentials, else gcloud's active project.
 */
export function defaultGcpProject(probe: CredentialProbe): string | undefined {
  const env = probe.env;
  for (const v of [
    env.GOOGLE_CLOUD_PROJECT,
    env.GOOGLE_PROJECT,
    env.GCLOUD_PROJECT,
    env.CLOUDSDK_CORE_PROJECT,
  ])
    if (set(v)) return v;
  const files = [
    env.GOOGLE_APPLICATION_CREDENTIALS,
    path.join(gcloudConfigDir(probe), "application_default_credentials.json"),
  ];
  for (const file of files) {
    if (!file) continue;
    const key = readJson<{ project_id?: string; quota_project_id?: string }>(probe, file);
    if (key?.project_id || key?.quota_project_id) return key.project_id || key.quota_project_id;
  }
  const active = firstLine(probe.read(path.join(gcloudConfigDir(probe), "active_config")));
  const config = probe.read(
    path.join(gcloudConfigDir(probe), "configurations", `config_${active || "default"}`),
  );
  // An INI file: the `project` key of its [core] section.
  const core = config?.split(/^\[/m).find((section) => section.startsWith("core]"));
  return core?.match(/^project\s*=\s*(\S+)/m)?.[1];
}

/** The Azure subscription and tenant the credentials name: the variables, else the CLI's default. */
export function defaultAzureAccount(probe: CredentialProbe): {
  subscriptionId?: string;
  tenantId?: string;
} {
  const env = probe.env;
  const cli = azureProfile(probe)?.subscriptions?.find((s) => s.isDefault);
  return {
    subscriptionId: env.ARM_SUBSCRIPTION_ID || env.AZURE_SUBSCRIPTION_ID || cli?.id,
    tenantId: env.ARM_TENANT_ID || env.AZURE_TENANT_ID || cli?.tenantId,
  };
}

/**
 * A new SSH public key (RSA 3072, OpenSSH's one-line form) whose private half is dropped at once: what
 * Azure requires of a Linux VM when nobody is to log in (the gateways' security groups keep SSH closed).
 */
export function throwawaySshKey(): string {
  const { publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 3072 });
  const jwk = publicKey.export({ format: "jwk" });
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  // An SSH mpint is big-endian with a leading zero byte when the top bit is set.
  const mpint = (b64url: string | undefined) => {
    const b = Buffer.from(b64url ?? "", "base64url");
    return field(b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
  };
  const blob = Buffer.concat([field(Buffer.from("ssh-rsa")), mpint(jwk.e), mpint(jwk.n)]);
  return `ssh-rsa ${blob.toString("base64")} skyplane-gateway-no-login`;
}
