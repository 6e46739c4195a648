/**
 * rehost's public API: `require("rehost")`.
 *
 * - the dynamic providers (`Replication`, `RehearsalPoint`, `RehearsalThaw`, `Cutover`);
 * - the Pulumi components (`MigrationWave`, `SyncGateway`, …), loaded on first use because they
 *   need `@pulumi/alicloud`, an optional peer dependency: a program that uses only the providers
 *   installs no cloud package, so the Pulumi engine asks for no cloud plugin;
 * - the planner, the inventory loaders, the data plane, the agent and its client, the vSphere
 *   client and the offline preview.
 *
 * Each area is also a subpath of its own: `rehost/providers`, `rehost/components`, `rehost/plan`,
 * `rehost/inventory`, `rehost/replication`, `rehost/agent`, `rehost/vsphere`, `rehost/guest`,
 * `rehost/preview`, and the Pulumi program `rehost/stacks`.
 */
import type * as components from "./components";

export * from "./providers";
export * from "./plan";
export {
  loadInventory,
  readInventory,
  readRvtools,
  loadNetworks,
  loadWaves,
  loadRvtools,
  parseNetworks,
  parseWaves,
  InventorySchema,
  VmSchema,
  NetworkSchema,
  WavesFileSchema,
  type Inventory,
  type Vm,
  type Network,
  type WavesFile,
  type LoadInventoryOptions,
  type InventoryReading,
  type RejectedVm,
} from "./inventory";
export {
  sync,
  verify,
  digest,
  openDevice,
  Throttle,
  DIGEST_ALGORITHM,
  DIGEST_BLOCK,
  type SyncOptions,
  type SyncResult,
  type SyncProgress,
  type ChangedSpec,
  type BlockDevice,
  type DigestResult,
  type VerifyResult,
} from "./replication";
export {
  startAgent,
  AgentClient,
  AgentRequestError,
  type AgentOptions,
  type AgentClientOptions,
  type RunningAgent,
  type JobStatus,
  type RegisterRequest,
} from "./agent";
export { connectVSphere, type ConnectOptions, type VSphereClient, type Estate } from "./vsphere";
export { runOfflinePreview, type PreviewOptions, type PreviewResult } from "./preview";
export { InputError, type Problem } from "./problems";

// Components: declared here, loaded from ./components when first read.
export type {
  CenLinkArgs,
  MirroredNetworkArgs,
  SyncGatewayArgs,
  GatewayBootstrapSettings,
  GatewayRuntime,
  AgentReleaseArgs,
  AgentBundleRef,
  MigratedInstanceArgs,
  RehearsalEnvironmentArgs,
  BastionArgs,
  MigrationWaveArgs,
  WavePhase,
  WaveControllers,
  ReplicationSeamArgs,
  CutoverSeamArgs,
  ControllerResult,
} from "./components";
export declare const CenLink: typeof components.CenLink;
export type CenLink = components.CenLink;
export declare const MirroredNetwork: typeof components.MirroredNetwork;
export type MirroredNetwork = components.MirroredNetwork;
export declare const SyncGateway: typeof components.SyncGateway;
export type SyncGateway = components.SyncGateway;
export declare const AgentRelease: typeof components.AgentRelease;
export type AgentRelease = components.AgentRelease;
export declare const MigratedInstance: typeof components.MigratedInstance;
export type MigratedInstance = components.MigratedInstance;
export declare const RehearsalEnvironment: typeof components.RehearsalEnvironment;
export type RehearsalEnvironment = components.RehearsalEnvironment;
export declare const MigrationWave: typeof components.MigrationWave;
export type MigrationWave = components.MigrationWave;

const LAZY_COMPONENTS = ["CenLink", "MirroredNetwork", "SyncGateway", "AgentRelease", "MigratedInstance", "RehearsalEnvironment", "MigrationWave"] as const;
for (const name of LAZY_COMPONENTS) {
  Object.defineProperty(exports, name, {
    enumerable: true,
    get: (): unknown => {
      try {
        return (require("./components") as typeof components)[name];
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND" && /@pulumi\/alicloud/.test((err as Error).message)) {
          throw new Error(`rehost's ${name} component needs @pulumi/alicloud: npm install @pulumi/alicloud@3.108.0 in the program's folder.`);
        }
        throw err;
      }
    },
  });
}
