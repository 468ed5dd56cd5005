import { Module } from "node:module";

/*
 * Modules loaded on first use rather than when something requires them. The Pulumi SDK requires its
 * closure serialiser's TypeScript parser and its npm tree readers as it loads, though only a program that
 * serialises a closure uses them (~0.3 s and ~50 MiB at start, more on a busy machine): the engine's
 * provider process never does, and neither does the skyplane command now that the local cloud's
 * providers are serialised at build time (`components/local/prebuilt.ts`). Each such process defers them
 * (`deferRequires`), once, at its start; a library never does it to its user's process.
 */

/** Modules of the SDK's closure serialiser and code-path finder: only serialising a closure uses them. */
export const deferredModules: ReadonlySet<string> = new Set([
  "typescript",
  "@npmcli/arborist",
  "normalize-package-data",
]);

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;

/**
 * A stand-in for module `request` that loads it on first use. It answers as an ES module interop
 * object, as `__importStar` and `__importDefault` of TypeScript's CommonJS output expect: its names are
 * the module's, and `default` is the module's default export or, for a CommonJS module, the module.
 */
export function deferredModule(load: () => unknown): object {
  let real: Record<PropertyKey, unknown> | undefined;
  const get = () => (real ??= load() as Record<PropertyKey, unknown>);
  return new Proxy(
    {},
    {
      get: (_, key) => {
        if (key === "__esModule") return true;
        const mod = get();
        if (key === "default" && !mod.__esModule) return mod;
        return mod[key];
      },
      has: (_, key) => key in get(),
      ownKeys: () => Reflect.ownKeys(get()),
      getOwnPropertyDescriptor: (_, key) => {
        const d = Object.getOwnPropertyDescriptor(get(), key);
        return d && { ...d, configurable: true };
      },
    },
  );
}

/** Makes `require` of each of `names` return a deferred stand-in (see `deferredModule`). */
export function deferRequires(names: ReadonlySet<string>): void {
  const mod = Module as unknown as { _load: Load };
  const load = mod._load;
  mod._load = function (request, parent, isMain) {
    if (names.has(request)) return deferredModule(() => load.call(mod, request, parent, isMain));
    return load.call(mod, request, parent, isMain);
  };
}
