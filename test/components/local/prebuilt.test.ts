import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { registration } from "../../helpers/mocks";
import { LocalNetwork, LocalNetworkProvider } from "../../../components/local/network";
import { prebuiltProvider } from "../../../components/local/prebuilt";
import { LocalProcess, LocalProcessProvider } from "../../../components/local/process";

/** The SDK's own dynamic resource, as the local cloud's were made before. */
class SdkResource extends pulumi.dynamic.Resource {}

describe("components/local/prebuilt: providers serialised at build time", () => {
  it("sends what pulumi.dynamic.Resource would: the same type and the same provider text", async () => {
    const plan = { kind: "loopback" } as never;
    const cases = [
      {
        kind: "LocalProcess" as const,
        ours: (n: string) => new LocalProcess(n, { command: ["true"], logFile: "/dev/null" }),
        provider: () => new LocalProcessProvider(),
        args: { command: ["true"], logFile: "/dev/null" },
      },
      {
        kind: "LocalNetwork" as const,
        ours: (n: string) => new LocalNetwork(n, { plan }),
        provider: () => new LocalNetworkProvider(),
        args: { plan },
      },
    ];
    for (const c of cases) {
      const text = prebuiltProvider(c.kind);
      assert.ok(text && text.startsWith("exports.handler = "), `the build wrote ${c.kind}'s text`);
      const type = `pulumi-nodejs:dynamic/skyplane:${c.kind}`;
      const ours = registration(type, `ours-${c.kind}`);
      const sdk = registration(type, `sdk-${c.kind}`);
      c.ours(`ours-${c.kind}`);
      new SdkResource(c.provider(), `sdk-${c.kind}`, { ...c.args }, {}, "skyplane", c.kind);
      const [a, b] = await Promise.all([ours, sdk]);
      assert.equal(a.inputs.__provider, text, "ours sends the build's text");
      assert.equal(b.inputs.__provider, text, `the SDK serialises ${c.kind}'s provider the same`);
    }
  });
});
