export { AwsDataplane } from "./dataplane";
export type { AwsDataplaneArgs } from "./dataplane";
export { AwsGateway } from "./gateway";
export { atExpression, AwsGatewayExpiry, terminatePolicy } from "./expiry";
export { AwsGatewayFirewall } from "./firewall";
export { AwsGatewayIdentity } from "./iam";
export { AwsRegionNetwork } from "./network";
export { dataplaneTags, gatewayPolicy } from "./naming";
