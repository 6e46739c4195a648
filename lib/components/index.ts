/**
 * Pulumi components over `@pulumi/alicloud` that declare a migration: the CEN link, the mirrored
 * VPC, sync gateways, pinned-IP migrated instances, rehearsal environments, waves, and the
 * on-prem source proxy (over `@pulumi/command`, an optional peer dependency loaded only by it).
 */
export { CenLink, type CenLinkArgs, type VbrLinkArgs, type VpnLinkArgs, type LinkRoute } from "./cen-link";
export { MirroredNetwork, type MirroredNetworkArgs, type SyncSubnet, type GatewayAccess } from "./mirrored-network";
export { SyncGateway, type SyncGatewayArgs, type GatewayRelease } from "./sync-gateway";
export { AgentRelease, type AgentReleaseArgs, type AgentBundleRef, defaultBucketName } from "./agent-release";
export { buildAgentBundle, AGENT_DEPENDENCIES, type AgentBundle, type BuildAgentBundleOptions } from "./agent-bundle";
export { gatewayUserData, type GatewayBootstrapSettings, type GatewayBundleSource, METADATA_URL } from "./gateway-bootstrap";
export { checkGatewayRuntime, pinnedPackages, type GatewayRuntime, DEFAULT_NODE } from "./gateway-runtime";
export { MigratedInstance, type MigratedInstanceArgs } from "./migrated-instance";
export {
  COMPONENT_TYPES,
  TAGS,
  TAG_ROLES,
  TAG_WAVE,
  TAG_SOURCE_UUID,
  TAG_SOURCE_NAME,
  TAG_PHASE,
  TAG_SOURCE_IP,
  DEFAULT_AGENT_PORT,
  DEFAULT_NBD_PORT,
  DEFAULT_PROXY_PORT,
} from "./tokens";
export { RehearsalEnvironment, type RehearsalEnvironmentArgs, type BastionArgs } from "./rehearsal-environment";
export {
  MigrationWave,
  type MigrationWaveArgs,
  type WavePhase,
  WAVE_PHASES,
  type WaveControllers,
  type ReplicationSeamArgs,
  type CutoverSeamArgs,
  type ControllerResult,
  regionOfZone,
} from "./migration-wave";
export { declareHostsFromReplicas, type HostsFromReplicasArgs, type HostsFromReplicas } from "./hosts";
export { checkHostSecurityGroups, portRangeCovers, ADMIN_PORTS, type HostRule, type HostSecurityGroup } from "./security-groups";
export { cloudDiskGiB, imagePlatform } from "./ecs-mapping";
export { SourceProxy } from "./source-proxy";
export { type SourceProxyArgs, type SourceProxyVCenter, type SourceProxyAgents, checkSourceProxy } from "./source-proxy-args";
export { type SourceProxyHostFiles, sourceProxyHostFiles } from "./source-proxy-host";
