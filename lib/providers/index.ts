/**
 * Dynamic providers that turn migration steps into resource lifecycles: `Replication`,
 * `RehearsalPoint` / `RehearsalThaw` and `Cutover`. They drive the sync-gateway agent (and
 * vSphere for power operations) and copy no data themselves. Credentials come from the stack's
 * configuration or the environment, never from inputs. See docs/providers.md.
 */
export { Replication, replicationProvider, type ReplicationArgs } from "./replication";
export { RehearsalPoint, RehearsalThaw, rehearsalPointProvider, rehearsalThawProvider, type RehearsalPointArgs, type RehearsalThawArgs } from "./rehearsal";
export { Cutover, cutoverProvider, type CutoverArgs } from "./cutover";
export { CREDENTIALS, ProviderCredentials, type ProviderConfig } from "./credentials";
export type { ReplicationOutputs, RehearsalPointOutputs, RehearsalThawOutputs, CutoverOutputs } from "./runtime";
