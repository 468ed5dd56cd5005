import { deferredModules, deferRequires } from "../common/defer";

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
 * first use instead (`common/defer.ts`): whatever touches one still gets the real module.
 */

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
