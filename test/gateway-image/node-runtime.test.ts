import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { NODE_RUNTIME } from "../../gateway-image/node-runtime";

const ROOT = path.resolve(__dirname, "..", "..", "..");

describe("gateway-image/node-runtime: the pinned Node release", () => {
  it("is one official linux-x64 tarball of nodejs.org, named, located and hashed consistently", () => {
    const m = /^v(\d+)\.(\d+)\.(\d+)$/.exec(NODE_RUNTIME.version);
    assert.ok(m, NODE_RUNTIME.version);
    assert.equal(NODE_RUNTIME.file, `node-${NODE_RUNTIME.version}-linux-x64.tar.xz`);
    assert.equal(
      NODE_RUNTIME.url,
      `https://nodejs.org/dist/${NODE_RUNTIME.version}/${NODE_RUNTIME.file}`,
    );
    assert.match(NODE_RUNTIME.sha256, /^[0-9a-f]{64}$/);
  });

  it("is a Node 20 the package supports (its engines field)", () => {
    const engines = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).engines
      .node as string;
    assert.match(engines, /^>=20\.(\d+) <21/);
    const [major, minor] = NODE_RUNTIME.version.slice(1).split(".").map(Number);
    assert.equal(major, 20);
    assert.ok(
      minor >= Number(/^>=20\.(\d+)/.exec(engines)?.[1]),
      `${NODE_RUNTIME.version} vs ${engines}`,
    );
  });
});
