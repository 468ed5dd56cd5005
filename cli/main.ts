#!/usr/bin/env node
import { deferredModules, deferRequires } from "../common/defer";
import { debugEnabled } from "./debug";

async function main(): Promise<void> {
  // SKYPLANE_DEBUG prints stacks: let them name the TypeScript sources (dist/ carries source maps).
  // Maps are read as modules load, so the command line is loaded only after this.
  if (debugEnabled()) process.setSourceMapsEnabled(true);
  // This process serialises no closure (the local cloud's providers are serialised at build time):
  // the SDK's TypeScript parser and npm tree readers load only if something does use them.
  deferRequires(deferredModules);
  const { buildCli } = await import("./cli");
  try {
    await buildCli(process.argv.slice(2)).parseAsync();
  } catch {
    // buildCli's fail handler has already reported the error and set process.exitCode.
  }
}

void main();
