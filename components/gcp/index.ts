import type { CloudSettings } from "../../planner/cloud-settings";
import { registerCloud } from "../registry";
import { GcpDataplane } from "./dataplane";

export { GcpDataplane } from "./dataplane";
export type { GcpDataplaneArgs } from "./dataplane";
export { GcpGateway } from "./gateway";
export type { GcpGatewayArgs } from "./gateway";
export { GcpGatewayFirewall } from "./firewall";
export { GcpGatewayIdentity } from "./iam";
export { GcpArtifacts } from "./artifacts";
export { stockImage, UBUNTU_FAMILY, UBUNTU_PROJECT } from "./image";
export { GcpNetwork } from "./network";
export {
  bundleReadCondition,
  customRoleId,
  dataplaneId,
  dataplaneLabels,
  terminationTime,
  READ_PERMISSIONS,
  SELF_DELETE_PERMISSIONS,
  WRITE_PERMISSIONS,
} from "./naming";

registerCloud({
  cloud: "gcp",
  dataplane: (name, args, settings, opts) => {
    const gcp = settings.gcp as NonNullable<CloudSettings["gcp"]>;
    return new GcpDataplane(
      name,
      { ...args, project: gcp.project, image: gcp.image, node: gcp.node },
      opts,
    );
  },
});
