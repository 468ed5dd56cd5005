import type { ArtifactRef, BootEndpoints, SecretRef } from "./boot";
import { SkyplaneError } from "../errors";

/*
 * What differs between clouds in a gateway VM's boot: how the VM gets its identity's credentials from the
 * metadata service, how it reads the bundle from the artifacts store and the secret from the secret
 * store with them, and how it ends itself. Shell functions for /usr/local/lib/skyplane/cloud.sh, plain
 * REST over curl (no cloud CLI is on a stock image). Every credential goes to curl through a root-only
 * file under /run/skyplane (`-H @file`, `-K file`) or a pipe, never through its command line, which
 * every process can read in /proc. Pure: the same arguments render the same lines.
 */

/** Single-quotes `s` for sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** An object key as one URL path: every segment percent-encoded, the slashes kept. */
const pathOf = (key: string) => key.split("/").map(encodeURIComponent).join("/");

/** The endpoint variables of the script: the name each endpoint has in it, by provider. */
export const ENDPOINT_VARS: Record<SecretRef["provider"], (keyof BootEndpoints)[]> = {
  aws: ["awsMetadata", "s3", "secretsManager"],
  gcp: ["gcpMetadata", "gcs", "gcpSecretManager", "gcpCompute"],
  azure: ["azureMetadata", "azureBlob", "azureKeyVault", "azureManagement"],
};

/** The shell variable holding an endpoint, e.g. awsMetadata → AWS_METADATA. */
export const endpointVar = (name: keyof BootEndpoints) =>
  name.replace(/[A-Z]+/g, (m) => `_${m}`).toUpperCase();

/** The shell functions of one cloud: credentials, fetch_bundle FILE, fetch_secret FILE, end_vm WHY. */
export function cloudFunctions(secrets: SecretRef, artifact: ArtifactRef): string[] {
  if (artifact.provider !== secrets.provider)
    throw new SkyplaneError(
      "BAD_BOOT_SPEC",
      `a ${secrets.provider} gateway reads its bundle with its own identity: the artifact must be in ${secrets.provider} too, not ${artifact.provider}`,
    );
  // A failed ending powers the VM off: it stops, and its platform deadline (components/) removes it.
  const poweroff = ['  say "could not delete this VM: powering it off"', "  shutdown -h now"];
  switch (secrets.provider) {
    case "aws": {
      const a = artifact as Extract<ArtifactRef, { provider: "aws" }>;
      return [
        "# IMDSv2: a session token, then the instance role's temporary credentials, kept as a curl config.",
        "# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html",
        "credentials() {",
        "  imds=$(fetch -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' \"$AWS_METADATA/latest/api/token\") &&",
        '    printf \'X-aws-ec2-metadata-token: %s\\n\' "$imds" >"$RUN/imds.h" &&',
        '    role=$(fetch -H @"$RUN/imds.h" "$AWS_METADATA/latest/meta-data/iam/security-credentials/") &&',
        '    fetch -H @"$RUN/imds.h" -o "$RUN/role.json" "$AWS_METADATA/latest/meta-data/iam/security-credentials/$role" &&',
        '    "$NODE" "$LIB/json.js" aws-curl <"$RUN/role.json" >"$RUN/aws.curl"',
        "  ok=$?",
        '  rm -f "$RUN/role.json"',
        '  return "$ok"',
        "}",
        "# S3 GetObject, path-style, signed by curl (SigV4) with the role's credentials.",
        "fetch_bundle() {",
        `  fetch -K "$RUN/aws.curl" --aws-sigv4 ${shq(`aws:amz:${a.region}:s3`)} -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \\`,
        `    -o "$1" "$S3"${shq(`/${a.bucket}/${pathOf(a.key)}`)}`,
        "}",
        "# Secrets Manager GetSecretValue (JSON 1.1 protocol).",
        "# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html",
        "fetch_secret() {",
        `  fetch -K "$RUN/aws.curl" --aws-sigv4 ${shq(`aws:amz:${secrets.region}:secretsmanager`)} \\`,
        "    -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: secretsmanager.GetSecretValue' \\",
        `    --data ${shq(JSON.stringify({ SecretId: secrets.secretArn }))} -o "$1" "$SECRETS_MANAGER/"`,
        "}",
        "# The instance is launched with shutdown behaviour terminate: powering off ends it.",
        "end_vm() {",
        '  say "ending this VM ($1): powering it off, which terminates it"',
        "  shutdown -h now",
        "}",
      ];
    }
    case "gcp": {
      const a = artifact as Extract<ArtifactRef, { provider: "gcp" }>;
      const access = `/v1/projects/${encodeURIComponent(secrets.project)}/secrets/${encodeURIComponent(secrets.secret)}/versions/latest:access`;
      return [
        "# The metadata server: the service account's access token, kept as a header file.",
        "# https://cloud.google.com/compute/docs/access/authenticate-workloads#applications",
        "meta() { fetch -H 'Metadata-Flavor: Google' \"$GCP_METADATA/computeMetadata/v1/$1\"; }",
        'credentials() { meta instance/service-accounts/default/token | bearer >"$RUN/gcp.h" && [ -s "$RUN/gcp.h" ]; }',
        "# Cloud Storage JSON API, objects.get with alt=media.",
        "fetch_bundle() {",
        `  fetch -H @"$RUN/gcp.h" -o "$1" "$GCS"${shq(`/storage/v1/b/${encodeURIComponent(a.bucket)}/o/${encodeURIComponent(a.object)}?alt=media`)}`,
        "}",
        "# Secret Manager projects.secrets.versions.access.",
        `fetch_secret() { fetch -H @"$RUN/gcp.h" -o "$1" "$GCP_SECRET_MANAGER"${shq(access)}; }`,
        "# Compute Engine instances.delete of this very instance, with its own identity.",
        "end_vm() {",
        '  say "ending this VM ($1): deleting it"',
        "  project=$(meta project/project-id) && zone=$(meta instance/zone) && name=$(meta instance/name) &&",
        "    credentials &&",
        '    fetch -X DELETE -H @"$RUN/gcp.h" -o /dev/null \\',
        '      "$GCP_COMPUTE/compute/v1/projects/$project/zones/${zone##*/}/instances/$name" &&',
        "    return 0",
        ...poweroff,
        "}",
      ];
    }
    case "azure": {
      const a = artifact as Extract<ArtifactRef, { provider: "azure" }>;
      return [
        "# IMDS: a managed-identity token per resource, kept as a header file.",
        "# https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token",
        "imds_token() {",
        "  fetch -H 'Metadata: true' \"$AZURE_METADATA/metadata/identity/oauth2/token?api-version=2018-02-01&resource=$1\" |",
        '    bearer >"$2" && [ -s "$2" ]',
        "}",
        "credentials() {",
        '  imds_token https%3A%2F%2Fstorage.azure.com%2F "$RUN/storage.h" &&',
        '    imds_token https%3A%2F%2Fvault.azure.net "$RUN/vault.h"',
        "}",
        "# Blob service Get Blob with the identity's bearer token (x-ms-version 2017-11-09 or later).",
        "fetch_bundle() {",
        `  fetch -H @"$RUN/storage.h" -H 'x-ms-version: 2021-08-06' -o "$1" "$AZURE_BLOB"${shq(`/${a.container}/${pathOf(a.blob)}`)}`,
        "}",
        "# Key Vault Get Secret.",
        `fetch_secret() { fetch -H @"$RUN/vault.h" -o "$1" "$AZURE_KEY_VAULT"${shq(`/secrets/${encodeURIComponent(secrets.secret)}?api-version=7.4`)}; }`,
        "# Resource Manager Virtual Machines - Delete of this very VM, with its own identity.",
        "end_vm() {",
        '  say "ending this VM ($1): deleting it"',
        "  id=$(fetch -H 'Metadata: true' \"$AZURE_METADATA/metadata/instance/compute/resourceId?api-version=2021-02-01&format=text\") &&",
        '    imds_token https%3A%2F%2Fmanagement.azure.com%2F "$RUN/arm.h" &&',
        '    fetch -X DELETE -H @"$RUN/arm.h" -o /dev/null "$AZURE_MANAGEMENT$id?api-version=2024-03-01" &&',
        "    return 0",
        ...poweroff,
        "}",
      ];
    }
    default: {
      const never: never = secrets;
      throw new SkyplaneError("UNREACHABLE", `unknown provider ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The gateway's environment besides its secrets: where its stores and metadata service are, only for the
 * endpoints a spec overrides (the SDKs' defaults are the clouds' own), and the machine's CA bundle, so
 * that the gateway trusts what curl trusts on the same VM.
 */
export function gatewayEnvironment(
  secrets: SecretRef,
  given: Partial<BootEndpoints>,
): Record<string, string> {
  const env: Record<string, string> = {
    NODE_EXTRA_CA_CERTS: "/etc/ssl/certs/ca-certificates.crt",
  };
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) env[name] = value;
  };
  switch (secrets.provider) {
    case "aws":
      env.AWS_REGION = secrets.region;
      set("AWS_ENDPOINT_URL_S3", given.s3);
      set("AWS_EC2_METADATA_SERVICE_ENDPOINT", given.awsMetadata);
      break;
    case "gcp":
      set("STORAGE_EMULATOR_HOST", given.gcs);
      // The metadata client takes a host[:port] and adds http:// itself.
      set("GCE_METADATA_HOST", given.gcpMetadata?.replace(/^https?:\/\//, ""));
      break;
    case "azure":
      env.SKYPLANE_AZURE_AUTH = "managed-identity";
      set("SKYPLANE_AZURE_BLOB_ENDPOINT", given.azureBlob);
      set("SKYPLANE_AZURE_IMDS_ENDPOINT", given.azureMetadata);
      break;
    default: {
      const never: never = secrets;
      throw new SkyplaneError("UNREACHABLE", `unknown provider ${JSON.stringify(never)}`);
    }
  }
  return env;
}
