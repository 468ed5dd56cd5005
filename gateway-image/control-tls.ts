import * as crypto from "node:crypto";
import type * as tls from "node:tls";

/*
 * The control API's transport: TLS 1.2 with a pre-shared key derived from the dataplane token (RFC 4279
 * PSK cipher suites), so that chunk requests, object keys and the token itself never cross a network in
 * the clear, and each side proves it holds the token during the handshake. No certificates: a gateway is
 * a short-lived VM that nobody could have issued one for, and the token already names the dataplane.
 */

/** The PSK identity both sides use (the key, not the identity, carries the secret). */
export const CONTROL_PSK_IDENTITY = "skyplane-control";

/** PSK cipher suites with AEADs: ECDHE first, for forward secrecy; plain PSK as the fallback. */
const CONTROL_CIPHERS = "ECDHE-PSK-CHACHA20-POLY1305:PSK-AES256-GCM-SHA384:PSK-CHACHA20-POLY1305";

/** The control API's pre-shared key: HKDF-SHA256 of the dataplane token, apart from every other use of it. */
export function controlPsk(token: string): Buffer {
  return Buffer.from(crypto.hkdfSync("sha256", token, "skyplane", "control-api tls-psk", 32));
}

/** TLS options of the gateway's control server. */
export function controlServerTls(token: string): tls.TlsOptions {
  const psk = controlPsk(token);
  return {
    pskCallback: (_socket, identity) => (identity === CONTROL_PSK_IDENTITY ? psk : null),
    ciphers: CONTROL_CIPHERS,
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.2", // Node offers external PSKs in TLS 1.2 only
  };
}

/** TLS options of the runner's control client. */
export function controlClientTls(token: string): tls.ConnectionOptions {
  const psk = controlPsk(token);
  return {
    pskCallback: () => ({ psk, identity: CONTROL_PSK_IDENTITY }),
    ciphers: CONTROL_CIPHERS,
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.2",
    // The PSK authenticates the server; there is no certificate whose name could be checked.
    checkServerIdentity: () => undefined,
  };
}
