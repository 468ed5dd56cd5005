import { registerCloud } from "../registry";
import { AwsDataplane } from "./dataplane";

export { AwsDataplane } from "./dataplane";
export type { AwsDataplaneArgs } from "./dataplane";
export { AWS_USER_DATA_BYTES, AwsGateway, ec2UserData } from "./gateway";
export type { AwsGatewayArgs } from "./gateway";
export { atExpression, AwsGatewayExpiry, terminatePolicy } from "./expiry";
export { AwsGatewayFirewall } from "./firewall";
export { AwsGatewayIdentity } from "./iam";
export { AwsArtifacts } from "./artifacts";
export { afterLookups, CANONICAL_OWNER, stockAmi, UBUNTU_AMI_NAME, ubuntuAmiQuery } from "./image";
export { AwsRegionNetwork } from "./network";
export { gatewayPolicy } from "./naming";

registerCloud({
  cloud: "aws",
  dataplane: (name, args, settings, opts) =>
    new AwsDataplane(name, { ...args, images: settings.aws?.amis, node: settings.aws?.node }, opts),
});
