/** True when SKYPLANE_DEBUG asks for the cause chain and stacks of errors (any value but "", 0, false). */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SKYPLANE_DEBUG !== undefined && !["", "0", "false"].includes(env.SKYPLANE_DEBUG);
}
