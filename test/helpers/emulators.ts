import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Emulators, startEmulators } from "../../scripts/emulators";

let running: Promise<Emulators> | undefined;
let dir: string | undefined;

/** One set of emulators for the whole test run, started on first use (stopped by test/setup.ts). */
export function emulators(): Promise<Emulators> {
  if (!running) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "skyplane-emulators-"));
    running = startEmulators(dir);
  }
  return running;
}

/** Stops the emulators if they were started. */
export async function stopEmulators(): Promise<void> {
  if (!running) return;
  const e = await running.catch(() => undefined);
  running = undefined;
  await e?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}
