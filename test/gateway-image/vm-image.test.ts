import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { CANONICAL_OWNER, UBUNTU_AMI_NAME } from "../../components/aws";
import { NODE_RUNTIME } from "../../gateway-image/node-runtime";

/*
 * The optional own-image recipe (gateway-image/vm-image.pkr.hcl) bakes what a stock gateway fetches at
 * boot into the stock image itself: the same Ubuntu AMIs and the same pinned Node release, so that an
 * image of yours boots what the runner expects. Packer is not run here; its pins are read and compared.
 */
describe("gateway-image: the own-image recipe", () => {
  const recipe = fs.readFileSync(
    path.join(__dirname, "..", "..", "..", "gateway-image", "vm-image.pkr.hcl"),
    "utf8",
  );
  const variable = (name: string) =>
    new RegExp(`variable "${name}" \\{[^}]*default = "([^"]+)"`).exec(recipe)?.[1];

  it("pins the Node release the stock gateways fetch, by the same sha256, and checks it", () => {
    assert.equal(variable("node_version"), NODE_RUNTIME.version);
    assert.equal(variable("node_sha256"), NODE_RUNTIME.sha256);
    assert.ok(
      recipe.includes(
        `https://nodejs.org/dist/\${var.node_version}/node-\${var.node_version}-linux-x64.tar.xz`,
      ),
      "from nodejs.org, as NODE_RUNTIME.url",
    );
    assert.equal(
      NODE_RUNTIME.url,
      `https://nodejs.org/dist/${NODE_RUNTIME.version}/node-${NODE_RUNTIME.version}-linux-x64.tar.xz`,
    );
    assert.match(recipe, /echo '\$\{var\.node_sha256\} {2}\/tmp\/node\.tar\.xz' \| sha256sum -c -/);
  });

  it("starts from the stock image the components look up", () => {
    assert.ok(recipe.includes(`name = "${UBUNTU_AMI_NAME}"`), "Canonical's Ubuntu 24.04 LTS");
    assert.ok(recipe.includes(`owners      = ["${CANONICAL_OWNER}"]`), "owned by Canonical");
  });
});
