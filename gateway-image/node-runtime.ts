/*
 * The Node.js runtime a gateway VM installs when it boots a stock image: one official release for
 * linux-x64, pinned by version and by the sha256 that nodejs.org publishes for it in
 * https://nodejs.org/dist/<version>/SHASUMS256.txt. The boot script (boot.ts) checks the download
 * against this hash before it unpacks anything. Node 20 is the project's runtime (package.json
 * "engines"); the gateway bundle (bundle.ts) is built for it.
 */

/** An official Node.js release tarball, pinned by its published sha256. */
export interface NodeRuntime {
  /** The release, e.g. v20.20.2. */
  readonly version: string;
  /** Its file name, `node-<version>-linux-x64.tar.xz`. */
  readonly file: string;
  /** Where nodejs.org serves it. */
  readonly url: string;
  /** Its sha256, as nodejs.org's SHASUMS256.txt lists it (64 lowercase hex digits). */
  readonly sha256: string;
}

const VERSION = "v20.20.2";
const FILE = `node-${VERSION}-linux-x64.tar.xz`;

/** The pinned runtime: Node v20.20.2 for linux-x64 (the `node-v20.20.2-linux-x64.tar.xz` line of its SHASUMS256.txt). */
export const NODE_RUNTIME: NodeRuntime = {
  version: VERSION,
  file: FILE,
  url: `https://nodejs.org/dist/${VERSION}/${FILE}`,
  sha256: "df770b2a6f130ed8627c9782c988fda9669fa23898329a61a871e32f965e007d",
};
