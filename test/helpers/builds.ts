import type * as pulumi from "@pulumi/pulumi";
import { registered, settled } from "./mocks";

/*
 * A stack brought up again, under the mocks: the same component built afresh under the same names (as
 * the program runs at every `up`), so that what its resources' inputs would be on each run can be
 * compared byte for byte.
 */

/** The inputs of each resource of `type`, by name, that one build registered, as JSON text. */
export type BuildInputs = Record<string, string>;

/** Runs each build in turn, each once the one before is fully registered; returns their inputs of `type`. */
export async function inputsOfBuilds(
  builds: ReadonlyArray<() => pulumi.Resource>,
  type: string,
): Promise<BuildInputs[]> {
  const out: BuildInputs[] = [];
  for (const build of builds) {
    const start = registered.length;
    const root = build();
    await settled(root);
    out.push(
      Object.fromEntries(
        registered
          .slice(start)
          .filter((r) => r.type === type)
          .map((r) => [r.name, JSON.stringify(r.inputs)]),
      ),
    );
  }
  return out;
}

/**
 * Whether `script` holds `sha256` as a value of its own (what the boot script checks the download
 * against), not only inside the bundle's object key, as written or URI-encoded in a request path.
 */
export function checksHash(script: string, key: string, sha256: string): boolean {
  return script.replaceAll(key, "").replaceAll(encodeURIComponent(key), "").includes(sha256);
}
