import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { Crc32c } from "@aws-sdk/checksums/crc";

/*
 * Stand-ins for the cloud services a gateway VM dials that have no emulator: the three metadata
 * services, GCP Secret Manager, Azure Key Vault, the Compute Engine and Azure Resource Manager deletes of
 * a VM, and a file server for the Node tarball. Each follows its service's documented requests and
 * answers, including the refusals a careless client would meet (IMDSv2 without a session token, the GCP
 * metadata server without `Metadata-Flavor: Google`, Azure IMDS without `Metadata: true`, a secret store
 * without the identity's bearer token). Tokens are minted by the metadata stand-in and checked by the
 * others, so that a script that reads a secret without its own identity's token fails as on the cloud.
 *
 *   AWS IMDSv2  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
 *   GCP metadata  https://cloud.google.com/compute/docs/metadata/querying-metadata
 *   Azure IMDS  https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service and
 *     https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token
 *   Secret Manager  https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access
 *   Key Vault  https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret
 *   Compute Engine  https://cloud.google.com/compute/docs/reference/rest/v1/instances/delete
 *   Resource Manager  https://learn.microsoft.com/rest/api/compute/virtual-machines/delete
 */

/** One request a stand-in served, for the test's assertions (no secret values). */
export interface ServedRequest {
  readonly service: string;
  readonly method: string;
  /** The path, without the query. */
  readonly path: string;
  readonly status: number;
  /** Which minted credential authorised it, if any ("imds-token", "bearer:<audience>"). */
  readonly auth?: string;
}

/** The identity of one VM in its cloud. */
export type VmIdentity =
  | {
      readonly cloud: "aws";
      readonly instanceId: string;
      readonly region: string;
      readonly zone: string;
    }
  | {
      readonly cloud: "gcp";
      readonly name: string;
      readonly project: string;
      readonly projectNumber: string;
      readonly zone: string;
      readonly serviceAccount: string;
    }
  | {
      readonly cloud: "azure";
      readonly name: string;
      readonly subscription: string;
      readonly resourceGroup: string;
      readonly tenant: string;
      readonly location: string;
    };

/** A request handler; returns false when the path is not its own (a 404 follows). */
type Handler = (
  req: http.IncomingMessage,
  url: URL,
  reply: (status: number, body: string | Buffer, headers?: Record<string, string>) => void,
) => boolean | Promise<boolean>;

/** What the stand-ins share: minted credentials and the log of requests. */
export class Cloud {
  /** AWS IMDSv2 session tokens. */
  readonly imdsTokens = new Set<string>();
  /** Bearer tokens by audience ("gcp" for the GCP service account's). */
  readonly bearers = new Map<string, string>();
  /** The instance role's temporary credentials (AWS: issued by moto's STS, which checks them). */
  awsCredentials = { AccessKeyId: "", SecretAccessKey: "", Token: "" };
  /** The instance profile's role name (AWS). */
  awsRole = "";
  /** Secrets by name; `null` is a secret the identity may not read. */
  readonly secrets = new Map<string, string | null>();
  /** The VM's deletes so far (each boot in the namespace is a VM of the same name). */
  readonly deletes: { readonly by: string; readonly at: number }[] = [];
  readonly served: ServedRequest[] = [];

  constructor(
    readonly identity: VmIdentity,
    private readonly onEvent: (e: { kind: string; detail: unknown }) => void = () => undefined,
  ) {}

  log(r: ServedRequest): void {
    this.served.push(r);
    this.onEvent({ kind: "request", detail: r });
  }

  /** The audience a bearer token was minted for, if it was. */
  audienceOf(req: http.IncomingMessage): string | undefined {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    if (!m) return undefined;
    for (const [aud, token] of this.bearers) if (token === m[1]) return aud;
    return undefined;
  }

  /** Records the VM's delete; the VM stops just after the API has answered, as on the cloud. */
  markDeleted(by: string): void {
    const d = { by, at: Date.now() };
    this.deletes.push(d);
    setImmediate(() => this.onEvent({ kind: "deleted", detail: d }));
  }
}

const json = (v: unknown) => JSON.stringify(v);
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/** An unsigned-looking JWT as Entra ID issues (Azurite's basic OAuth mode reads its claims). */
function jwt(claims: Record<string, unknown>): string {
  return `${b64url({ typ: "JWT", alg: "RS256", kid: "rehearsal" })}.${b64url(claims)}.${crypto
    .randomBytes(64)
    .toString("base64url")}`;
}

/** AWS IMDSv2 (token required: the instance is launched with HttpTokens=required). */
export function awsMetadata(cloud: Cloud): Handler {
  const id = cloud.identity;
  if (id.cloud !== "aws") throw new TypeError("awsMetadata needs an AWS identity");
  return (req, url, reply) => {
    const role = cloud.awsRole;
    if (req.headers["x-forwarded-for"]) return (reply(403, "Forbidden"), true);
    if (url.pathname === "/latest/api/token") {
      if (req.method !== "PUT") return (reply(405, "Method Not Allowed"), true);
      const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600)
        return (reply(400, "Bad Request"), true);
      const token = crypto.randomBytes(40).toString("base64url");
      cloud.imdsTokens.add(token);
      reply(200, token, { "x-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
      return true;
    }
    if (!url.pathname.startsWith("/latest/")) return false;
    const token = req.headers["x-aws-ec2-metadata-token"];
    if (typeof token !== "string" || !cloud.imdsTokens.has(token))
      return (reply(401, "Unauthorized"), true);
    const now = new Date();
    const creds = {
      Code: "Success",
      LastUpdated: now.toISOString().replace(/\.\d+Z$/, "Z"),
      Type: "AWS-HMAC",
      ...cloud.awsCredentials,
      Expiration: new Date(now.getTime() + 6 * 3600_000).toISOString().replace(/\.\d+Z$/, "Z"),
    };
    const paths: Record<string, string> = {
      "/latest/meta-data/instance-id": id.instanceId,
      "/latest/meta-data/placement/region": id.region,
      "/latest/meta-data/placement/availability-zone": id.zone,
      "/latest/meta-data/iam/security-credentials/": role,
      "/latest/meta-data/iam/security-credentials": role,
      [`/latest/meta-data/iam/security-credentials/${role}`]: json(creds),
      "/latest/dynamic/instance-identity/document": json({
        instanceId: id.instanceId,
        region: id.region,
        availabilityZone: id.zone,
        accountId: "123456789012",
        architecture: "x86_64",
      }),
    };
    const body = paths[url.pathname];
    if (body === undefined) return (reply(404, "Not Found"), true);
    reply(200, body, { "content-type": "text/plain" });
    return true;
  };
}

/** The GCP metadata server. */
export function gcpMetadata(cloud: Cloud): Handler {
  const id = cloud.identity;
  if (id.cloud !== "gcp") throw new TypeError("gcpMetadata needs a GCP identity");
  return (req, url, reply) => {
    if (!url.pathname.startsWith("/computeMetadata/")) return false;
    const flavor = { "metadata-flavor": "Google" };
    if (req.headers["x-forwarded-for"] || req.headers["metadata-flavor"] !== "Google") {
      reply(403, "Missing required header: Metadata-Flavor", flavor);
      return true;
    }
    const p = url.pathname.replace(/^\/computeMetadata\/v1\//, "");
    if (p === "instance/service-accounts/default/token") {
      const token = `ya29.${crypto.randomBytes(48).toString("base64url")}`;
      cloud.bearers.set("gcp", token);
      reply(200, json({ access_token: token, expires_in: 3599, token_type: "Bearer" }), {
        ...flavor,
        "content-type": "application/json",
      });
      return true;
    }
    const values: Record<string, string> = {
      "project/project-id": id.project,
      "project/numeric-project-id": id.projectNumber,
      "instance/name": id.name,
      "instance/hostname": `${id.name}.${id.zone}.c.${id.project}.internal`,
      "instance/id": String(
        parseInt(crypto.createHash("sha256").update(id.name).digest("hex").slice(0, 12), 16),
      ),
      "instance/zone": `projects/${id.projectNumber}/zones/${id.zone}`,
      "instance/service-accounts/default/email": id.serviceAccount,
      "instance/service-accounts/default/scopes": "https://www.googleapis.com/auth/cloud-platform",
      "instance/": "attributes/\nhostname\nid\nname\nservice-accounts/\nzone\n",
      instance: "attributes/\nhostname\nid\nname\nservice-accounts/\nzone\n",
    };
    const body = values[p];
    if (body === undefined) return (reply(404, "Not Found", flavor), true);
    reply(200, body, { ...flavor, "content-type": "application/text" });
    return true;
  };
}

/** The resource id of an Azure VM. */
export function azureVmId(id: Extract<VmIdentity, { cloud: "azure" }>): string {
  return `/subscriptions/${id.subscription}/resourceGroups/${id.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${id.name}`;
}

/** Azure IMDS: instance metadata and the system-assigned identity's tokens. */
export function azureMetadata(cloud: Cloud): Handler {
  const id = cloud.identity;
  if (id.cloud !== "azure") throw new TypeError("azureMetadata needs an Azure identity");
  return (req, url, reply) => {
    if (!url.pathname.startsWith("/metadata/")) return false;
    const bad = (error: string) => (
      reply(400, json({ error: "invalid_request", error_description: error }), {
        "content-type": "application/json",
      }),
      true
    );
    if (req.headers["x-forwarded-for"]) return bad("Request not allowed through a proxy");
    if (req.headers.metadata !== "true") return bad("Required metadata header not specified");
    if (!url.searchParams.get("api-version"))
      return bad("Required query variable 'api-version' is missing");
    if (url.pathname === "/metadata/identity/oauth2/token") {
      const resource = url.searchParams.get("resource");
      if (!resource) return bad("Required query variable 'resource' is missing");
      const now = Math.floor(Date.now() / 1000);
      const token = jwt({
        aud: resource,
        iss: `https://sts.windows.net/${id.tenant}/`,
        iat: now,
        nbf: now,
        exp: now + 86399,
        tid: id.tenant,
        oid: crypto.randomUUID(),
        sub: crypto.randomUUID(),
        appid: crypto.randomUUID(),
        xms_mirid: azureVmId(id),
      });
      cloud.bearers.set(resource.replace(/\/+$/, ""), token);
      reply(
        200,
        json({
          access_token: token,
          client_id: crypto.randomUUID(),
          expires_in: "86399",
          expires_on: String(now + 86399),
          ext_expires_in: "86399",
          not_before: String(now),
          resource,
          token_type: "Bearer",
        }),
        { "content-type": "application/json" },
      );
      return true;
    }
    if (url.pathname === "/metadata/instance/compute/resourceId") {
      reply(200, azureVmId(id), { "content-type": "text/plain" });
      return true;
    }
    if (url.pathname === "/metadata/instance") {
      reply(
        200,
        json({
          compute: {
            name: id.name,
            location: id.location,
            resourceGroupName: id.resourceGroup,
            subscriptionId: id.subscription,
            resourceId: azureVmId(id),
            vmId: crypto.createHash("md5").update(id.name).digest("hex"),
          },
        }),
        { "content-type": "application/json" },
      );
      return true;
    }
    reply(404, json({ error: "Not found" }), { "content-type": "application/json" });
    return true;
  };
}

/** GCP Secret Manager: projects.secrets.versions.access. */
export function gcpSecretManager(cloud: Cloud): Handler {
  const id = cloud.identity;
  if (id.cloud !== "gcp") throw new TypeError("gcpSecretManager needs a GCP identity");
  return async (req, url, reply) => {
    const m = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/:]+):access$/.exec(
      url.pathname,
    );
    if (!m) return false;
    const error = (code: number, status: string, message: string) =>
      reply(code, json({ error: { code, message, status } }), {
        "content-type": "application/json",
      });
    if (req.method !== "GET") return (error(405, "METHOD_NOT_ALLOWED", "use GET"), true);
    if (cloud.audienceOf(req) !== "gcp")
      return (
        error(
          401,
          "UNAUTHENTICATED",
          "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        ),
        true
      );
    const [, project, secret, version] = m;
    if (project !== id.project && project !== id.projectNumber)
      return (
        error(
          403,
          "PERMISSION_DENIED",
          `Permission 'secretmanager.versions.access' denied for resource 'projects/${project}/secrets/${secret}/versions/${version}'`,
        ),
        true
      );
    const value = cloud.secrets.get(secret);
    if (value === undefined)
      return (
        error(
          404,
          "NOT_FOUND",
          `Secret [projects/${id.projectNumber}/secrets/${secret}] not found or has no versions.`,
        ),
        true
      );
    if (value === null)
      return (
        error(
          403,
          "PERMISSION_DENIED",
          `Permission 'secretmanager.versions.access' denied for resource 'projects/${project}/secrets/${secret}/versions/${version}' (or it may not exist).`,
        ),
        true
      );
    const data = Buffer.from(value);
    const h = new Crc32c();
    h.update(data);
    const crc = Buffer.from(await h.digest()).readUInt32BE(0);
    reply(
      200,
      json({
        name: `projects/${id.projectNumber}/secrets/${secret}/versions/1`,
        payload: { data: data.toString("base64"), dataCrc32c: String(crc) },
      }),
      { "content-type": "application/json; charset=UTF-8" },
    );
    return true;
  };
}

/** Azure Key Vault: Get Secret (api-version 7.x). */
export function azureKeyVault(cloud: Cloud, vault: string): Handler {
  return (req, url, reply) => {
    const m = /^\/secrets\/([0-9A-Za-z-]+)(?:\/([0-9a-f]{32}))?\/?$/.exec(url.pathname);
    if (!m) return false;
    const error = (status: number, code: string, message: string, headers = {}) =>
      reply(status, json({ error: { code, message } }), {
        "content-type": "application/json",
        ...headers,
      });
    if (!/^7\.\d$/.test(url.searchParams.get("api-version") ?? ""))
      return (
        error(
          400,
          "BadParameter",
          "The 'api-version' query parameter is missing or not supported.",
        ),
        true
      );
    if (cloud.audienceOf(req) !== "https://vault.azure.net") {
      const tenant = cloud.identity.cloud === "azure" ? cloud.identity.tenant : "common";
      return (
        error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", {
          "www-authenticate": `Bearer authorization="https://login.microsoftonline.com/${tenant}", resource="https://vault.azure.net"`,
        }),
        true
      );
    }
    const value = cloud.secrets.get(m[1]);
    if (value === undefined)
      return (
        error(
          404,
          "SecretNotFound",
          `A secret with (name/id) ${m[1]} was not found in this key vault.`,
        ),
        true
      );
    if (value === null)
      return (
        error(
          403,
          "Forbidden",
          `The user, group or application does not have secrets get permission on key vault '${vault}'.`,
        ),
        true
      );
    const version = crypto.createHash("md5").update(m[1]).digest("hex");
    const now = Math.floor(Date.now() / 1000);
    reply(
      200,
      json({
        value,
        id: `https://${vault}.vault.azure.net/secrets/${m[1]}/${version}`,
        attributes: {
          enabled: true,
          created: now,
          updated: now,
          recoveryLevel: "Recoverable+Purgeable",
          recoverableDays: 90,
        },
        tags: {},
      }),
      { "content-type": "application/json; charset=utf-8" },
    );
    return true;
  };
}

/** Compute Engine instances.delete of this VM (any other instance: 404). */
export function gcpCompute(cloud: Cloud): Handler {
  const id = cloud.identity;
  if (id.cloud !== "gcp") throw new TypeError("gcpCompute needs a GCP identity");
  return (req, url, reply) => {
    const m = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/instances\/([^/]+)$/.exec(
      url.pathname,
    );
    if (!m) return false;
    const error = (code: number, message: string) =>
      reply(
        code,
        json({
          error: {
            code,
            message,
            errors: [
              { message, domain: "global", reason: code === 404 ? "notFound" : "forbidden" },
            ],
          },
        }),
        { "content-type": "application/json" },
      );
    if (req.method !== "DELETE") return (error(405, "only DELETE is rehearsed"), true);
    if (cloud.audienceOf(req) !== "gcp")
      return (error(401, "Request is missing required authentication credential."), true);
    const [, project, zone, name] = m;
    if (project !== id.project || zone !== id.zone || name !== id.name)
      return (
        error(
          404,
          `The resource 'projects/${project}/zones/${zone}/instances/${name}' was not found`,
        ),
        true
      );
    cloud.markDeleted(`DELETE ${url.pathname}`);
    const base = `https://www.googleapis.com/compute/v1/projects/${project}/zones/${zone}`;
    const op = `operation-${Date.now()}-${crypto.randomBytes(6).toString("hex")}`;
    reply(
      200,
      json({
        kind: "compute#operation",
        id: String(Date.now()),
        name: op,
        zone: base,
        operationType: "delete",
        targetLink: `${base}/instances/${name}`,
        status: "RUNNING",
        user: id.serviceAccount,
        progress: 0,
        insertTime: new Date().toISOString(),
        selfLink: `${base}/operations/${op}`,
      }),
      { "content-type": "application/json; charset=UTF-8" },
    );
    return true;
  };
}

/** Resource Manager: Virtual Machines - Delete of this VM. */
export function azureManagement(cloud: Cloud): Handler {
  const id = cloud.identity;
  if (id.cloud !== "azure") throw new TypeError("azureManagement needs an Azure identity");
  return (req, url, reply) => {
    if (!url.pathname.startsWith("/subscriptions/")) return false;
    const error = (status: number, code: string, message: string) =>
      reply(status, json({ error: { code, message } }), { "content-type": "application/json" });
    if (!url.searchParams.get("api-version"))
      return (
        error(
          400,
          "MissingApiVersionParameter",
          "The api-version query parameter (?api-version=) is required for all requests.",
        ),
        true
      );
    if (cloud.audienceOf(req) !== "https://management.azure.com")
      return (
        error(
          401,
          "AuthenticationFailed",
          "Authentication failed. The 'Authorization' header is missing.",
        ),
        true
      );
    if (req.method !== "DELETE")
      return (error(405, "MethodNotAllowed", "only DELETE is rehearsed"), true);
    if (url.pathname.toLowerCase() !== azureVmId(id).toLowerCase())
      return (
        error(404, "ResourceNotFound", `The Resource '${url.pathname}' was not found.`),
        true
      );
    cloud.markDeleted(`DELETE ${url.pathname}`);
    const op = `https://management.azure.com/subscriptions/${id.subscription}/providers/Microsoft.Compute/locations/${id.location}/operations/${crypto.randomUUID()}?api-version=${url.searchParams.get("api-version")}`;
    reply(202, "", { "azure-asyncoperation": op, location: op, "retry-after": "10" });
    return true;
  };
}

/** A file server: GET of one path serves one file. */
export function fileServer(files: Readonly<Record<string, string>>): Handler {
  return (req, url, reply) => {
    const file = files[url.pathname];
    if (file === undefined) return false;
    if (req.method !== "GET" && req.method !== "HEAD")
      return (reply(405, "Method Not Allowed"), true);
    reply(200, fs.readFileSync(file), { "content-type": "application/octet-stream" });
    return true;
  };
}

/** Serves `handlers` on `host:port` (port 0: any), logging every request into `cloud`. */
export async function serve(
  cloud: Cloud,
  service: string,
  host: string,
  port: number,
  handlers: readonly Handler[],
): Promise<http.Server & { url: string }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://stand-in");
    let status = 0;
    const reply = (s: number, body: string | Buffer, headers: Record<string, string> = {}) => {
      status = s;
      res.writeHead(s, headers);
      res.end(req.method === "HEAD" ? undefined : body);
    };
    // Bodies are not used by any stand-in: drain them.
    req.resume();
    void (async () => {
      try {
        let handled = false;
        for (const h of handlers) if ((handled = await h(req, url, reply))) break;
        if (!handled) reply(404, "Not Found");
      } catch (err) {
        reply(500, (err as Error).message);
      }
      const aud = cloud.audienceOf(req);
      cloud.log({
        service,
        method: req.method ?? "",
        path: url.pathname,
        status,
        ...(aud
          ? { auth: `bearer:${aud}` }
          : req.headers["x-aws-ec2-metadata-token"]
            ? { auth: "imds-token" }
            : {}),
      });
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as { port: number }).port;
  return Object.assign(server, { url: `http://${host}:${bound}` });
}
