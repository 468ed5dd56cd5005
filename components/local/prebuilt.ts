import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

/*
 * The local cloud's dynamic providers, serialised once by `npm run build` rather than by every program
 * run. A `pulumi.dynamic.Resource` serialises its provider's closure as the program runs, and the SDK's
 * closure serialiser parses functions with TypeScript: in the runner's process that is most of a second
 * and ~50 MiB of a cold `cp` for a text that only changes with the code. The build writes the text the
 * SDK would send (`serializeFunction(() => provider, { allowSecrets: true })`, the SDK's own call) into
 * PREBUILT_FILE beside this module; `DynamicResource` sends it as the resource's `__provider` under the
 * type `pulumi-nodejs:dynamic/skyplane:<Kind>`, as the SDK's Resource does, so a stack's state does not
 * change with how it was made. Without the file (a checkout not built), the provider is serialised
 * as the program runs, as before.
 */

/** The providers serialised at build time, by the resource type they serve. */
export type ProviderKind = "LocalProcess" | "LocalNetwork";

/** Where the build puts the texts: `{ "LocalProcess": "...", "LocalNetwork": "..." }`. */
export const PREBUILT_FILE = path.join(__dirname, "providers.json");

let prebuilt: Partial<Record<ProviderKind, string>> | undefined;

/** The build-time text of a kind's provider, if the build made one. */
export function prebuiltProvider(kind: ProviderKind): string | undefined {
  if (prebuilt === undefined) {
    try {
      prebuilt = JSON.parse(fs.readFileSync(PREBUILT_FILE, "utf8"));
    } catch {
      prebuilt = {};
    }
  }
  return prebuilt?.[kind];
}

/** The provider's text as the SDK's dynamic resources serialise it (the same call, the same closure). */
export async function serializeProvider(
  provider: pulumi.dynamic.ResourceProvider,
): Promise<string> {
  return (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
}

/**
 * A dynamic resource whose provider is `make()`'s, sent as its build-time text where there is one.
 * What the engine receives is what `pulumi.dynamic.Resource` would send.
 */
export class DynamicResource extends pulumi.CustomResource {
  constructor(
    kind: ProviderKind,
    make: () => pulumi.dynamic.ResourceProvider,
    name: string,
    props: pulumi.Inputs,
    opts?: pulumi.CustomResourceOptions,
  ) {
    const text = prebuiltProvider(kind) ?? pulumi.output(serializeProvider(make()));
    super(`pulumi-nodejs:dynamic/skyplane:${kind}`, name, { ...props, __provider: text }, opts);
  }
}

/** `npm run build`: serialises each kind's provider into PREBUILT_FILE. */
async function build(): Promise<void> {
  // Loaded here, not above: they import this module.
  const { LocalProcessProvider } = await import("./process");
  const { LocalNetworkProvider } = await import("./network");
  const texts: Record<ProviderKind, string> = {
    LocalProcess: await serializeProvider(new LocalProcessProvider()),
    LocalNetwork: await serializeProvider(new LocalNetworkProvider()),
  };
  const tmp = `${PREBUILT_FILE}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(texts) + "\n");
  fs.renameSync(tmp, PREBUILT_FILE);
  console.log(`dynamic providers serialised into ${path.relative(process.cwd(), PREBUILT_FILE)}`);
}

if (require.main === module) {
  build().catch((err) => {
    console.error(`serialising the dynamic providers failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
