/**
 * The names rehost writes into a stack and reads back — the components' type tokens, the tag keys
 * (and role values) on cloud resources — and the default ports the components open. The
 * components, the policy pack, the offline preview and the stacks spell them from here only. Plain constants: importing this module loads no
 * Pulumi provider, so the policy pack can.
 */

/** Type token of each component (`rehost:components:<Name>`): renaming one replaces every child in a stack. */
export const COMPONENT_TYPES = {
  CenLink: "rehost:components:CenLink",
  MirroredNetwork: "rehost:components:MirroredNetwork",
  AgentRelease: "rehost:components:AgentRelease",
  SyncGateway: "rehost:components:SyncGateway",
  MigratedInstance: "rehost:components:MigratedInstance",
  RehearsalEnvironment: "rehost:components:RehearsalEnvironment",
  MigrationWave: "rehost:components:MigrationWave",
  SourceProxy: "rehost:components:SourceProxy",
} as const;

/** Tag keys the components write. */
export const TAGS = {
  /** The wave a resource belongs to. */
  wave: "rehost:wave",
  /** The source VM's name. */
  sourceVm: "rehost:source-vm",
  /** The source VM's BIOS UUID. */
  sourceVmUuid: "rehost:source-vm-uuid",
  /** The source VM's primary address, which its instance pins (the policy pack compares them). */
  sourceIp: "rehost:source-ip",
  /** `rehearsal-<n>` or `cutover`. */
  phase: "rehost:phase",
  /** What the resource is for: one of {@link TAG_ROLES}. */
  role: "rehost:role",
  /** The source portgroup a mirrored vSwitch stands for. */
  portgroup: "rehost:portgroup",
  /** The planned disk id a replica disk or its snapshot holds. */
  disk: "rehost:disk",
  /** The planned gateway a sync-gateway instance is. */
  gateway: "rehost:gateway",
  /** The planned slot of a replica disk on its gateway. */
  slot: "rehost:slot",
} as const;

/** Values of the {@link TAGS}.role tag. */
export const TAG_ROLES = {
  agentRelease: "agent-release",
  syncGateway: "sync-gateway",
  syncVswitch: "sync",
  bastion: "bastion",
} as const;

/** Tag: the wave a migrated instance belongs to. */
export const TAG_WAVE = TAGS.wave;
/** Tag: the source VM's BIOS UUID. */
export const TAG_SOURCE_UUID = TAGS.sourceVmUuid;
/** Tag: the source VM's name. */
export const TAG_SOURCE_NAME = TAGS.sourceVm;
/** Tag: `rehearsal-<n>` or `cutover`. */
export const TAG_PHASE = TAGS.phase;
/** Tag: the source VM's primary address. */
export const TAG_SOURCE_IP = TAGS.sourceIp;

/** Default agent API port of a sync gateway. */
export const DEFAULT_AGENT_PORT = 8443;
/** Default NBD port. */
export const DEFAULT_NBD_PORT = 10809;
/** Default API port of the source proxy. */
export const DEFAULT_PROXY_PORT = 8444;
