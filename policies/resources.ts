/**
 * How the rules recognise rehost's resources and follow references between them, the same way
 * under `pulumi preview --policy-pack` (where ids of new resources are unknown, so references come
 * from `propertyDependencies`) and under the offline preview (where every id is known).
 */
import type { PolicyResource, ResourceValidationArgs } from "@pulumi/policy";
import { COMPONENT_TYPES, TAG_ROLES, TAGS } from "../lib/components/tokens";

/** Tag keys and values, component type tokens: the components' own spelling. */
export { COMPONENT_TYPES, TAG_ROLES, TAGS };

/** Pulumi type tokens the rules look at. */
export const TYPES = {
  instance: "alicloud:ecs/instance:Instance",
  vpc: "alicloud:vpc/network:Network",
  vswitch: "alicloud:vpc/switch:Switch",
  ecsDisk: "alicloud:ecs/ecsDisk:EcsDisk",
  disk: "alicloud:ecs/disk:Disk",
  ecsDiskAttachment: "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment",
  diskAttachment: "alicloud:ecs/diskAttachment:DiskAttachment",
  networkInterface: "alicloud:ecs/ecsNetworkInterface:EcsNetworkInterface",
  securityGroupRule: "alicloud:ecs/securityGroupRule:SecurityGroupRule",
  eipAssociation: "alicloud:ecs/eipAssociation:EipAssociation",
  eipAddress: "alicloud:ecs/eipAddress:EipAddress",
  cenTransitRouterVpcAttachment: "alicloud:cen/transitRouterVpcAttachment:TransitRouterVpcAttachment",
  cenInstanceAttachment: "alicloud:cen/instanceAttachment:InstanceAttachment",
} as const;

/** The part of a resource every rule reads: what both engines give. */
export interface Resource {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, any>;
  readonly urn: string;
  readonly parent?: Resource;
  readonly propertyDependencies?: Record<string, Resource[]>;
  readonly opts?: { readonly protect?: boolean; readonly retainOnDelete?: boolean };
}

export function tagsOf(r: { props: Record<string, any> }): Record<string, string> {
  const tags = r.props["tags"];
  return tags !== null && typeof tags === "object" ? (tags as Record<string, string>) : {};
}

/** Whether the parent chain of `r` contains a component of type `type`. */
export function hasAncestor(r: Resource, type: string): boolean {
  for (let p = r.parent; p !== undefined; p = p.parent) if (p.type === type) return true;
  return false;
}

/** An ECS instance that is the cloud twin of a source VM. */
export function isMigratedInstance(r: Resource): boolean {
  return r.type === TYPES.instance && (tagsOf(r)[TAGS.sourceVmUuid] !== undefined || hasAncestor(r, COMPONENT_TYPES.MigratedInstance));
}

/** An ECS instance that is a sync gateway. */
export function isSyncGateway(r: Resource): boolean {
  return r.type === TYPES.instance && (tagsOf(r)[TAGS.role] === TAG_ROLES.syncGateway || hasAncestor(r, COMPONENT_TYPES.SyncGateway));
}

/** A VPC built for a rehearsal (phase `rehearsal-…`, or declared by a RehearsalEnvironment). */
export function isRehearsalVpc(r: Resource): boolean {
  return r.type === TYPES.vpc && ((tagsOf(r)[TAGS.phase] ?? "").startsWith("rehearsal") || hasAncestor(r, COMPONENT_TYPES.RehearsalEnvironment));
}

/**
 * The resources `r.props[prop]` refers to: from the engine's property dependencies when it gives
 * them, otherwise by matching the value against the ids the offline preview knows.
 */
export function referenced(r: Resource, prop: string, all: readonly Resource[], idOf: (r: Resource) => string | undefined): Resource[] {
  const deps = r.propertyDependencies?.[prop];
  if (deps !== undefined && deps.length > 0) return deps;
  const value = r.props[prop];
  if (typeof value !== "string") return [];
  return all.filter((other) => other !== r && idOf(other) === value);
}

/** The id of a resource when known (the offline preview records it as `props.__id`). */
export function knownId(r: Resource): string | undefined {
  const id = (r.props as { __id?: unknown }).__id;
  return typeof id === "string" ? id : undefined;
}

/** A short, readable name for messages. */
export function label(r: { type: string; name: string }): string {
  const kind = r.type.split(":").pop() ?? r.type;
  return `${kind} ${r.name}`;
}

/** Adapts a resource-validation args object to `Resource` (same fields). */
export function fromArgs(args: ResourceValidationArgs): Resource {
  return args as unknown as Resource;
}

/** Adapts the stack's resources. */
export function fromStack(resources: readonly PolicyResource[]): Resource[] {
  return resources as unknown as Resource[];
}
