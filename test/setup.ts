import { stopEmulators } from "./helpers/emulators";

/** Mocha root hooks: whatever the run started once for all files is stopped at the end. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopEmulators();
  },
};
