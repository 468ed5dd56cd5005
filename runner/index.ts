/*
 * The public API of skyplane:
 *
 *   const client = new SkyplaneClient();
 *   await client.copy({ src: "local://a/x.txt", dst: "local://b/x.txt" });
 *   const dp = client.dataplane("local", "east", "local", "west", { nVms: 1 });
 *   await using _ = dp.autoDeprovision();
 *   await dp.provision();
 *   dp.queueCopy("local://a/data/", "local://b/data/", { recursive: true });
 *   const tracker = dp.runAsync();
 */
export { SkyplaneClient, checkRegion } from "./client";
export type { SkyplaneClientOptions, CopyRequest, CopyPlan, RunOptions } from "./client";
export { planJson, actualCostUSD } from "./plan";
export type { TransferPlan, PlanEnd, PlanEstimate, PlanRequest } from "./plan";
export type { Listing } from "./listing";
export { planRoute } from "./route";
export type { RouteRequest, TableText } from "./route";
export { Dataplane } from "./dataplane";
export { runsAsChildren } from "./children";
export { DEFAULT_LEASE_SECONDS } from "../common/ttl";
export type { DataplaneOptions, JobResult, ProvisionReport, TeardownReport } from "./dataplane";
export type { EngineReason } from "./route-record";
export { ENGINE_REASONS } from "./route-record";
export { Tracker } from "./tracker";
export type { TrackerEvent } from "./tracker";
export { TransferProgress } from "./progress";
export type { TransferEvent, TransferListener } from "./progress";
export type { TransferResult, VerificationReport } from "./transfer";
export type { VerifyReport, VerifyDifference } from "./verify";
export { InterruptedError, TransferFailedError } from "./transfer";
export { AWSConfig, GCPConfig, AzureConfig, DEFAULT_TRANSFER_CONFIG } from "./config";
export type { TransferConfig } from "./config";
export { Engine, PULUMI_VERSION, PROJECT_NAME, engineCacheRoot, findEngineRoot } from "./engine";
export type { EngineRun } from "./engine";
export { checkEngine } from "./check";
export type { EngineCheckResult } from "./check";
export { skyplaneHome } from "../common/paths";
export type { HomeLayout } from "../common/paths";
export { ensureHome } from "./home";
export { SkyplaneError, UserError, InternalError, isUserError, ERRORS, EXIT } from "../errors";
export type { ErrorCode, ErrorSpec, ExitStatus } from "../errors";
export { GatewayUnreachableError } from "./gateway-client";
export { deprovisionStack, listStacks } from "./stacks";
export { goneLockText } from "./locks";
export type { StackInfo } from "./stacks";

// Planning without provisioning (`skyplane plan` through planRoute above, `skyplane profile`).
export { parseGridCsv } from "../planner/model";
export { deriveProfile, parseProfile } from "../planner/profile";
export type { NetworkProfile } from "../planner/profile";
export type { Topology } from "../planner/topology";

// Buckets (`skyplane mb`): each store makes its own.
export { makeBucket } from "./buckets";
export type { MadeBucket } from "./buckets";
