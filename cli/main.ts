#!/usr/bin/env node
import { debugEnabled } from "./debug";

async function main(): Promise<void> {
  // SKYPLANE_DEBUG prints stacks: let them name the TypeScript sources (dist/ carries source maps).
  // Maps are read as modules load, so the command line is loaded only after this.
  if (debugEnabled()) process.setSourceMapsEnabled(true);
  const { buildCli } = await import("./cli");
  try {
    await buildCli(process.argv.slice(2)).parseAsync();
  } catch {
    // buildCli's fail handler has already reported the error and set process.exitCode.
  }
}

void main();
