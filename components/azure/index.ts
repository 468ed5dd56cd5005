export { AzureDataplane } from "./dataplane";
export type { AzureDataplaneArgs } from "./dataplane";
export { AzureGateway } from "./gateway";
export { AzureGatewayFirewall } from "./firewall";
export { AzureGatewayIdentity } from "./iam";
export { AzureRegionNetwork } from "./network";
export {
  autoShutdownTime,
  containerScope,
  dataplaneTags,
  ROLES,
  roleDefinitionId,
  vaultName,
} from "./naming";
