export { Engine, PULUMI_VERSION, PROJECT_NAME, engineCacheRoot, findEngineRoot } from "./engine";
export { checkEngine } from "./check";
export type { EngineCheckResult } from "./check";
export { skyplaneHome, ensureHome } from "./home";
export type { HomeLayout } from "./home";
export { SkyplaneError, UserError, InternalError, isUserError } from "../errors";
