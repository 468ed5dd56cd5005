export { LocalProcess, LocalProcessProvider } from "./process";
export type { LocalProcessArgs, LocalProcessInputs, LocalProcessOutputs } from "./process";
export { LocalGateway, localGatewayFiles } from "./gateway";
export type { LocalGatewayArgs } from "./gateway";
export { LocalDataplane } from "./dataplane";
export type { LocalDataplaneArgs } from "./dataplane";
export {
  LocalNetwork,
  LocalNetworkProvider,
  planNetwork,
  upCommands,
  downCommands,
  networkTag,
  addressBlock,
  gatewaySubnet,
  hostConflicts,
  EMULATED_SPACE,
} from "./network";
export type { NetworkPlan, VethEnd } from "./network";
