import type { CloudSettings } from "../../planner/cloud-settings";
import { registerCloud } from "../registry";
import { AzureDataplane } from "./dataplane";

export { AzureDataplane } from "./dataplane";
export type { AzureDataplaneArgs } from "./dataplane";
export { AzureGateway } from "./gateway";
export type { AzureGatewayArgs } from "./gateway";
export { AzureGatewayFirewall } from "./firewall";
export { AzureGatewayIdentity } from "./iam";
export { ARTIFACTS_CONTAINER, AzureArtifacts } from "./artifacts";
export { UBUNTU_IMAGE } from "./image";
export { AzureRegionNetwork } from "./network";
export {
  artifactsAccountName,
  autoShutdownTime,
  containerScope,
  ROLES,
  roleDefinitionId,
  vaultName,
} from "./naming";

registerCloud({
  cloud: "azure",
  dataplane: (name, args, settings, opts) => {
    const az = settings.azure as NonNullable<CloudSettings["azure"]>;
    return new AzureDataplane(
      name,
      {
        ...args,
        subscriptionId: az.subscriptionId,
        tenantId: az.tenantId,
        image: az.imageId,
        node: az.node,
        storageAccountId: az.storageAccountId,
        sshPublicKey: az.sshPublicKey,
      },
      opts,
    );
  },
});
