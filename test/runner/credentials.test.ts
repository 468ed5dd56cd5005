import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import {
  credentialSource,
  CredentialProbe,
  defaultAzureAccount,
  defaultGcpProject,
  requireCloudCredentials,
  throwawaySshKey,
} from "../../runner/credentials";

/*
 * Where each cloud's credentials come from, as the runner sees it before it creates anything: table
 * cases over a probe of variables and files (no cloud, no network), the error that names what is missing,
 * and what the credentials say of the GCP project and the Azure subscription.
 */

/** A machine with exactly these variables and files (path → text). */
function machine(env: Record<string, string>, files: Record<string, string> = {}): CredentialProbe {
  return {
    env,
    home: "/home/u",
    exists: (f) => f in files,
    read: (f) => files[f],
  };
}

describe("runner/credentials: each cloud's credentials, before anything is created", () => {
  it("finds AWS credentials where the SDK and the provider look, and none elsewhere", () => {
    const cases: Array<[string, CredentialProbe, string | undefined]> = [
      ["nothing", machine({}), undefined],
      ["a key alone", machine({ AWS_ACCESS_KEY_ID: "AKIA" }), undefined],
      [
        "keys",
        machine({ AWS_ACCESS_KEY_ID: "AKIA", AWS_SECRET_ACCESS_KEY: "s" }),
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
      ],
      ["a profile", machine({ AWS_PROFILE: "prod" }), "the profile prod (AWS_PROFILE)"],
      [
        "shared credentials",
        machine({}, { "/home/u/.aws/credentials": "[default]" }),
        "/home/u/.aws/credentials",
      ],
      ["a config file", machine({}, { "/home/u/.aws/config": "[default]" }), "/home/u/.aws/config"],
      [
        "a moved credentials file",
        machine({ AWS_SHARED_CREDENTIALS_FILE: "/etc/aws" }, { "/etc/aws": "x" }),
        "/etc/aws",
      ],
      [
        "a moved credentials file that is not there",
        machine({ AWS_SHARED_CREDENTIALS_FILE: "/etc/aws" }, { "/home/u/.aws/credentials": "x" }),
        undefined,
      ],
      [
        "a token file",
        machine({ AWS_WEB_IDENTITY_TOKEN_FILE: "/t" }, { "/t": "jwt" }),
        "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)",
      ],
      [
        "a container",
        machine({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/x" }),
        "the container's credentials (AWS_CONTAINER_CREDENTIALS_*)",
      ],
      [
        "an EC2 instance",
        machine({}, { "/sys/class/dmi/id/sys_vendor": "Amazon EC2\n" }),
        "this EC2 instance's role (instance metadata)",
      ],
      [
        "an EC2 instance with metadata off",
        machine(
          { AWS_EC2_METADATA_DISABLED: "true" },
          { "/sys/class/dmi/id/sys_vendor": "Amazon EC2\n" },
        ),
        undefined,
      ],
      [
        "a Xen EC2 instance",
        machine({}, { "/sys/hypervisor/uuid": "ec2e1916-9099-7caf-fd21-012345abcdef\n" }),
        "this EC2 instance's role (instance metadata)",
      ],
      [
        "another cloud's VM",
        machine({}, { "/sys/class/dmi/id/sys_vendor": "Google\n" }),
        undefined,
      ],
    ];
    assert.deepEqual(
      cases.map(([name, probe]) => [name, credentialSource("aws", probe)]),
      cases.map(([name, , expected]) => [name, expected]),
    );
  });

  it("finds GCP credentials: a key file that exists, gcloud's application default, a GCE VM", () => {
    const adc = "/home/u/.config/gcloud/application_default_credentials.json";
    const cases: Array<[string, CredentialProbe, string | undefined]> = [
      ["nothing", machine({}), undefined],
      [
        "a key file",
        machine({ GOOGLE_APPLICATION_CREDENTIALS: "/k.json" }, { "/k.json": "{}" }),
        "/k.json",
      ],
      [
        "a key file that is not there, ADC aside",
        machine({ GOOGLE_APPLICATION_CREDENTIALS: "/k.json" }, { [adc]: "{}" }),
        undefined,
      ],
      ["gcloud's login", machine({}, { [adc]: "{}" }), adc],
      [
        "gcloud elsewhere",
        machine({ CLOUDSDK_CONFIG: "/g" }, { "/g/application_default_credentials.json": "{}" }),
        "/g/application_default_credentials.json",
      ],
      ["the provider's variable", machine({ GOOGLE_CREDENTIALS: "{...}" }), "GOOGLE_CREDENTIALS"],
      [
        "a Compute Engine VM",
        machine({}, { "/sys/class/dmi/id/product_name": "Google Compute Engine\n" }),
        "this Compute Engine VM's service account (metadata server)",
      ],
    ];
    assert.deepEqual(
      cases.map(([name, probe]) => [name, credentialSource("gcp", probe)]),
      cases.map(([name, , expected]) => [name, expected]),
    );
  });

  it("finds Azure credentials: a service principal, a managed identity, the CLI's login, an Azure VM", () => {
    const profile = "/home/u/.azure/azureProfile.json";
    const signedIn = `\uFEFF${JSON.stringify({ subscriptions: [{ id: "s", tenantId: "t", isDefault: true }] })}`;
    const cases: Array<[string, CredentialProbe, string | undefined]> = [
      ["nothing", machine({}), undefined],
      ["a client id alone", machine({ ARM_CLIENT_ID: "c" }), undefined],
      [
        "a service principal",
        machine({ ARM_CLIENT_ID: "c", ARM_CLIENT_SECRET: "s" }),
        "a service principal (ARM_CLIENT_ID)",
      ],
      ["a managed identity", machine({ ARM_USE_MSI: "true" }), "a managed identity (ARM_USE_MSI)"],
      [
        "the CLI's login",
        machine({}, { [profile]: signedIn }),
        `the Azure CLI's login (${profile})`,
      ],
      [
        "the CLI signed out",
        machine({}, { [profile]: JSON.stringify({ subscriptions: [] }) }),
        undefined,
      ],
      [
        "an Azure VM",
        machine(
          {},
          { "/sys/class/dmi/id/chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77\n" },
        ),
        "this Azure VM's managed identity",
      ],
    ];
    assert.deepEqual(
      cases.map(([name, probe]) => [name, credentialSource("azure", probe)]),
      cases.map(([name, , expected]) => [name, expected]),
    );
  });

  it("fails naming every cloud of the route without credentials and how to sign in to it", () => {
    const aws = machine({ AWS_PROFILE: "p" });
    assert.doesNotThrow(() => requireCloudCredentials(["aws"], aws));
    assert.throws(
      () => requireCloudCredentials(["aws", "gcp", "azure"], aws),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "NO_CREDENTIALS");
        assert.equal(
          e.message.split("\n")[0],
          "no credentials for gcp, azure, which the route's gateways are on:",
        );
        assert.match(e.message, /\n {2}gcp: run 'gcloud auth application-default login'/);
        assert.match(e.message, /\n {2}azure: run 'az login'/);
        assert.doesNotMatch(e.message, /\n {2}aws:/);
        return true;
      },
    );
  });

  it("takes the GCP project from the variables, the key file, or gcloud's configuration", () => {
    const g = "/home/u/.config/gcloud";
    assert.equal(defaultGcpProject(machine({})), undefined);
    assert.equal(defaultGcpProject(machine({ GOOGLE_CLOUD_PROJECT: "env-p" })), "env-p");
    assert.equal(defaultGcpProject(machine({ GOOGLE_PROJECT: "prov-p" })), "prov-p");
    assert.equal(
      defaultGcpProject(
        machine(
          { GOOGLE_APPLICATION_CREDENTIALS: "/k.json" },
          { "/k.json": JSON.stringify({ type: "service_account", project_id: "key-p" }) },
        ),
      ),
      "key-p",
    );
    assert.equal(
      defaultGcpProject(
        machine(
          {},
          { [`${g}/application_default_credentials.json`]: '{"quota_project_id":"quota-p"}' },
        ),
      ),
      "quota-p",
    );
    const config = "[core]\naccount = a@example.com\nproject = active-p\n\n[compute]\nzone = x\n";
    assert.equal(
      defaultGcpProject(
        machine(
          {},
          { [`${g}/active_config`]: "work\n", [`${g}/configurations/config_work`]: config },
        ),
      ),
      "active-p",
    );
    assert.equal(
      defaultGcpProject(
        machine({}, { [`${g}/configurations/config_default`]: "[compute]\nproject = not-core\n" }),
      ),
      undefined,
      "only [core]'s project",
    );
  });

  it("takes the Azure subscription and tenant from the variables, else the CLI's default", () => {
    const profile = JSON.stringify({
      subscriptions: [
        { id: "other", tenantId: "t0", isDefault: false },
        { id: "mine", tenantId: "t1", isDefault: true },
      ],
    });
    const files = { "/home/u/.azure/azureProfile.json": `\uFEFF${profile}` };
    assert.deepEqual(defaultAzureAccount(machine({}, files)), {
      subscriptionId: "mine",
      tenantId: "t1",
    });
    assert.deepEqual(defaultAzureAccount(machine({ ARM_SUBSCRIPTION_ID: "env" }, files)), {
      subscriptionId: "env",
      tenantId: "t1",
    });
    assert.deepEqual(defaultAzureAccount(machine({})), {
      subscriptionId: undefined,
      tenantId: undefined,
    });
  });

  it("makes an SSH public key in OpenSSH's form whose private half nobody has", () => {
    const key = throwawaySshKey();
    const [kind, blob, comment] = key.split(" ");
    assert.equal(kind, "ssh-rsa");
    assert.equal(comment, "skyplane-gateway-no-login");
    // The blob is an RSA key in SSH's wire form (RFC 4253): read back by hand, Node takes it as a key.
    const parsed = crypto.createPublicKey({
      key: {
        kty: "RSA",
        ...readRsaBlob(Buffer.from(blob, "base64")),
      },
      format: "jwk",
    });
    assert.equal(parsed.asymmetricKeyDetails?.modulusLength, 3072);
    assert.notEqual(throwawaySshKey(), key, "a new key each time");
  });
});

/** The exponent and modulus of an ssh-rsa blob (RFC 4253 §6.6), base64url as a JWK has them. */
function readRsaBlob(blob: Buffer): { e: string; n: string } {
  const fields: Buffer[] = [];
  for (let at = 0; at < blob.length;) {
    const len = blob.readUInt32BE(at);
    fields.push(blob.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  assert.equal(fields.length, 3);
  assert.equal(fields[0].toString(), "ssh-rsa");
  const strip = (b: Buffer) => (b[0] === 0 ? b.subarray(1) : b);
  return { e: strip(fields[1]).toString("base64url"), n: strip(fields[2]).toString("base64url") };
}
