export { GcpDataplane } from "./dataplane";
export type { GcpDataplaneArgs } from "./dataplane";
export { GcpGateway } from "./gateway";
export { GcpGatewayFirewall } from "./firewall";
export { GcpGatewayIdentity } from "./iam";
export { GcpNetwork } from "./network";
export {
  dataplaneLabels,
  terminationTime,
  READ_PERMISSIONS,
  SELF_DELETE_PERMISSIONS,
  WRITE_PERMISSIONS,
} from "./naming";
