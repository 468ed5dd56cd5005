/*
 * The one JavaScript file a gateway VM's boot script runs (with the Node runtime it has just installed):
 * it turns the clouds' JSON answers into what curl and systemd read, from stdin to stdout, so that no
 * secret ever passes through a command line. Kept as text because the boot script writes it as is;
 * test/gateway-image/boot-json.test.ts runs it. Its errors never quote their input, which holds secrets.
 *
 *   aws-curl        IMDS role credentials {AccessKeyId, SecretAccessKey, Token} → a curl config
 *                   (`user`, `header`) for curl --aws-sigv4
 *   env PROVIDER    the secret store's answer → the gateway's environment file
 *                   (SKYPLANE_GATEWAY_TOKEN, SKYPLANE_GATEWAY_KEY): AWS Secrets Manager's
 *                   {SecretString}, GCP Secret Manager's {payload: {data: base64}}, Key Vault's {value}
 */

/** Where the boot script writes the helper on the VM. */
export const BOOT_JSON_PATH = "/usr/local/lib/skyplane/json.js";

/** The helper's source, as written to BOOT_JSON_PATH. */
export const BOOT_JSON_SOURCE = String.raw`"use strict";
// skyplane boot helper (rendered by gateway-image/boot-json.ts): the clouds' JSON answers on stdin
// become curl configs and the gateway's environment file on stdout. No secret on a command line, and
// no error message quotes its input.
const fs = require("fs");
function die(what) {
  process.stderr.write("skyplane-boot: " + what + "\n");
  process.exit(1);
}
function input() {
  try {
    return JSON.parse(fs.readFileSync(0, "utf8"));
  } catch {
    die("the answer is not JSON");
  }
}
// Printable ASCII without spaces, quotes or backslashes: safe in a curl config and a systemd env file.
function word(name, value, pattern) {
  if (typeof value !== "string" || !(pattern || /^[\x21-\x7e]+$/).test(value) || /["'\\]/.test(value))
    die(name + " is missing or malformed");
  return value;
}
const [command, provider] = process.argv.slice(2);
if (command === "aws-curl") {
  const c = input();
  const out = ['user = "' + word("AccessKeyId", c.AccessKeyId) + ":" + word("SecretAccessKey", c.SecretAccessKey) + '"'];
  if (c.Token !== undefined) out.push('header = "x-amz-security-token: ' + word("Token", c.Token) + '"');
  process.stdout.write(out.join("\n") + "\n");
} else if (command === "env") {
  const a = input();
  let text;
  if (provider === "aws") text = a.SecretString;
  else if (provider === "gcp") text = a.payload && typeof a.payload.data === "string" ? Buffer.from(a.payload.data, "base64").toString("utf8") : undefined;
  else if (provider === "azure") text = a.value;
  else die("unknown secret store " + provider);
  let s;
  try {
    s = JSON.parse(text);
  } catch {
    die("the secret is not JSON {token, key}");
  }
  const token = word("the secret's token", s && s.token, /^[A-Za-z0-9+/=_.-]{16,}$/);
  const lines = ["SKYPLANE_GATEWAY_TOKEN=" + token];
  if (s.key !== undefined) {
    const key = word("the secret's key", s.key, /^[A-Za-z0-9+/]+={0,2}$/);
    if (Buffer.from(key, "base64").length !== 32) die("the secret's key is not 32 bytes of base64");
    lines.push("SKYPLANE_GATEWAY_KEY=" + key);
  }
  process.stdout.write(lines.join("\n") + "\n");
} else {
  die("usage: json.js aws-curl | env aws|gcp|azure");
}
`;
