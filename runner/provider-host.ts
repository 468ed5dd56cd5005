import { Module } from "node:module";

/*
 * The entry point of the engine's dynamic-provider plugin for skyplane's stacks: the process that runs
 * the local cloud's LocalProcess provider (components/local/process.ts) during `up` and `destroy`. The
 * engine starts it through the plugin script that `runner/engine.ts` writes into the home, in place of
 * the one @pulumi/pulumi ships (a shell script that starts a Node process to find this SDK, then a
 * second one to run its dynamic provider).
 *
 * The SDK's provider loads all of @pulumi/pulumi, including what only the program's side uses: the
 * closure serialiser's TypeScript parser and the npm tree readers behind code paths, about half of its
 * start-up. A provider deserialises closures, it never serialises one, so those modules are loaded on
 * first use instead (`deferredModules`): whatever touches one still gets the real module.
 */

/** Modules of the SDK's closure serialiser and code-path finder, which a provider process never uses. */
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

/**
 * Ends this process once its parent (the engine) is gone: an engine killed mid-run (a client killed while it
 * provisions) never ends its plugins, and nothing else would. Checked every `everyMs`, off the event loop's
 * reckoning (the timer does not keep the process alive).
 */
export function exitWithParent(
  everyMs = 500,
  exit: () => void = () => process.exit(0),
): NodeJS.Timeout {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) exit();
  }, everyMs);
  timer.unref();
  return timer;
}

if (require.main === module) {
  exitWithParent();
  deferRequires(deferredModules);
  // The SDK's own provider: it reads the engine's address from argv and prints the port it serves on.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require("@pulumi/pulumi/cmd/dynamic-provider");
}
