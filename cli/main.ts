#!/usr/bin/env node
import { buildCli } from "./cli";

async function main(): Promise<void> {
  try {
    await buildCli(process.argv.slice(2)).parseAsync();
  } catch {
    // buildCli's fail handler has already reported the error and set process.exitCode.
  }
}

void main();
