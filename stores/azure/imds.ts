import * as http from "node:http";
import { httpVerdict, isTransientNetworkError, Verdict, withRetries } from "../retry";
import { StoreError } from "../types";

/*
 * A managed identity's access tokens from the Azure Instance Metadata Service (IMDS), for a gateway VM
 * that reads and writes blobs as its own identity: no key and no connection string ever reaches the VM.
 * This is the part of @azure/identity's ManagedIdentityCredential that a VM needs (that package is not a
 * dependency): GET /metadata/identity/oauth2/token with the header `Metadata: true`, one token per
 * resource, kept until five minutes before it expires. It satisfies @azure/core-auth's TokenCredential,
 * which the blob SDK takes. See
 * https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token
 */

/** IMDS's fixed address on every Azure VM (link-local, reachable from the VM only). */
export const AZURE_IMDS_ENDPOINT = "http://169.254.169.254";

/** The IMDS API version of the token endpoint. */
const API_VERSION = "2018-02-01";

/** A token is renewed once it has less than this left. */
const RENEW_BEFORE_MS = 5 * 60_000;

/** An access token, as @azure/core-auth's TokenCredential returns it. */
export interface AccessToken {
  readonly token: string;
  /** Epoch ms at which it expires. */
  readonly expiresOnTimestamp: number;
}

/** Where the credential asks, and as which identity. */
export interface ImdsCredentialOptions {
  /** IMDS's address; default AZURE_IMDS_ENDPOINT (a rehearsal's stand-in otherwise). */
  readonly endpoint?: string;
  /** The client id of a user-assigned identity, needed only when the VM has several. */
  readonly clientId?: string;
  /** Tries per token, the first included; default 4 (IMDS throttles with 429 and answers 5xx when busy). */
  readonly attempts?: number;
}

/** An HTTP answer other than 200 from IMDS. */
class ImdsHttpError extends StoreError {
  constructor(
    readonly status: number,
    readonly retryAfter: string | undefined,
    message: string,
  ) {
    super("NO_CREDENTIALS", message);
  }
}

function verdict(err: unknown): Verdict {
  if (err instanceof ImdsHttpError) return httpVerdict(err.status, err.retryAfter);
  return { retry: isTransientNetworkError(err) };
}

/** The resource a scope names: `https://storage.azure.com/.default` → `https://storage.azure.com`. */
export function scopeResource(scopes: string | string[]): string {
  const scope = Array.isArray(scopes) ? scopes[0] : scopes;
  if (!scope) throw new StoreError("INVALID_ARGUMENT", "a managed identity token needs a scope");
  return scope.replace(/\/\.default$/, "");
}

/** Tokens of the VM's managed identity, from IMDS. */
export class ImdsCredential {
  private readonly endpoint: string;
  private readonly tokens = new Map<string, AccessToken>();

  constructor(private readonly opts: ImdsCredentialOptions = {}) {
    this.endpoint = (opts.endpoint ?? AZURE_IMDS_ENDPOINT).replace(/\/+$/, "");
  }

  /** A token for the scope's resource (TokenCredential.getToken). */
  async getToken(scopes: string | string[]): Promise<AccessToken> {
    const resource = scopeResource(scopes);
    const kept = this.tokens.get(resource);
    if (kept && kept.expiresOnTimestamp - Date.now() > RENEW_BEFORE_MS) return kept;
    const url = new URL(`${this.endpoint}/metadata/identity/oauth2/token`);
    url.searchParams.set("api-version", API_VERSION);
    url.searchParams.set("resource", resource);
    if (this.opts.clientId) url.searchParams.set("client_id", this.opts.clientId);
    const body = await withRetries(() => this.get(url), verdict, {
      attempts: this.opts.attempts ?? 4,
    }).catch((err: unknown) => {
      if (err instanceof StoreError) throw err;
      throw new StoreError(
        "NO_CREDENTIALS",
        `no managed identity token: IMDS at ${this.endpoint} is unreachable (${(err as Error).message}); a managed identity works on an Azure VM only`,
        { cause: err },
      );
    });
    let answer: { access_token?: unknown; expires_on?: unknown; expires_in?: unknown };
    try {
      answer = JSON.parse(body);
    } catch {
      throw new StoreError(
        "NO_CREDENTIALS",
        `IMDS at ${this.endpoint} answered a token that is not JSON`,
      );
    }
    if (typeof answer.access_token !== "string" || answer.access_token === "")
      throw new StoreError("NO_CREDENTIALS", `IMDS at ${this.endpoint} answered no access_token`);
    // expires_on is epoch seconds (a string); expires_in, seconds from now, is the fallback.
    const on = Number(answer.expires_on);
    const expiresOnTimestamp = Number.isFinite(on)
      ? on * 1000
      : Date.now() + (Number(answer.expires_in) || 0) * 1000;
    const token = { token: answer.access_token, expiresOnTimestamp };
    this.tokens.set(resource, token);
    return token;
  }

  private get(url: URL): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { Metadata: "true" }, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode === 200) return resolve(text);
          // IMDS's error bodies ({error, error_description}) hold no secret; they say what is wrong.
          reject(
            new ImdsHttpError(
              res.statusCode ?? 0,
              res.headers["retry-after"] as string | undefined,
              `no managed identity token for ${url.searchParams.get("resource")} from IMDS at ${this.endpoint} (HTTP ${res.statusCode}: ${text.slice(0, 300)}): give the VM a managed identity with access to the storage account`,
            ),
          );
        });
      });
      // A silent IMDS: the socket is reset (ECONNRESET), which is retried like any reset.
      req.on("timeout", () => req.destroy());
      req.on("error", reject);
    });
  }
}
