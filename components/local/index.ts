export {
  LocalProcess,
  LocalProcessProvider,
  isSameProcess,
  liveStartTime,
  parseProcStat,
  stopProcess,
} from "./process";
export type {
  LocalProcessArgs,
  LocalProcessInputs,
  LocalProcessOutputs,
  ProcStat,
} from "./process";
export { LOCAL_TTL_MINUTES, LocalGateway, localGatewayFiles } from "./gateway";
export type { LocalGatewayArgs } from "./gateway";
export { LocalDataplane } from "./dataplane";
export type { LocalDataplaneArgs, ProvisionedGateway } from "./dataplane";
export {
  LocalNetwork,
  LocalNetworkProvider,
  emulatedNetwork,
  planNetwork,
  upCommands,
  downCommands,
  networkTag,
} from "./network";
export type { NetworkPlan, VethEnd } from "./network";
