/**
 * The providers' operations, as the serialized provider objects reach them: by package name,
 * `require("rehost/providers/runtime")`, never by a path of the machine that ran `pulumi up`.
 * The Pulumi state keeps each resource's provider, and `pulumi destroy` runs that one — from a CI
 * runner, a new checkout or a moved folder — so it must find this module wherever rehost is
 * installed. Each provider kind maps the dynamic-provider methods onto plain functions; they are
 * controllers: every byte moves inside the agent, here we only ask and poll.
 */
import type * as pulumi from "@pulumi/pulumi";
import * as cutover from "./operations/cutover";
import * as rehearsal from "./operations/rehearsal";
import * as replication from "./operations/replication";

export { configure } from "./operations/common";
export { CREDENTIALS, ProviderCredentials, type ProviderConfig } from "./credentials";
export { ResourceInitError } from "./waiting";
export type { ReplicationOutputs } from "./operations/replication";
export type { RehearsalPointOutputs, RehearsalThawOutputs } from "./operations/rehearsal";
export type { CutoverOutputs } from "./operations/cutover";

/** The provider kinds. */
export type ProviderKind = "replication" | "rehearsalPoint" | "rehearsalThaw" | "cutover";

type Methods = Required<Pick<pulumi.dynamic.ResourceProvider, "check" | "diff" | "create" | "read" | "update" | "delete">>;

/** Each kind's dynamic-provider methods. */
export const operations: Record<ProviderKind, Methods> = {
  replication: {
    check: (olds, news) => replication.check(olds, news),
    diff: (_id, olds, news) => replication.diff(olds, news),
    create: (inputs) => replication.create(inputs),
    read: (id, props) => replication.read(id, props),
    update: (_id, olds, news) => replication.update(olds, news),
    delete: (_id, olds) => replication.remove(olds),
  },
  rehearsalPoint: {
    check: (olds, news) => rehearsal.checkPoint(olds, news),
    diff: (_id, olds, news) => rehearsal.diffPoint(olds, news),
    create: (inputs) => rehearsal.createPoint(inputs),
    read: async (id, props) => ({ id, props }),
    update: async (_id, olds, news) => ({ outs: { ...olds, ...news } }),
    delete: (_id, olds) => rehearsal.deletePoint(olds),
  },
  rehearsalThaw: {
    check: (olds, news) => rehearsal.checkThaw(olds, news),
    diff: (_id, olds, news) => rehearsal.diffThaw(olds, news),
    create: (inputs) => rehearsal.createThaw(inputs),
    read: async (id, props) => ({ id, props }),
    update: async (_id, olds, news) => ({ outs: { ...olds, ...news } }),
    // The thaw happened once; there is nothing to undo.
    delete: async () => undefined,
  },
  cutover: {
    check: (olds, news) => cutover.check(olds, news),
    diff: (_id, olds, news) => cutover.diff(olds, news),
    create: (inputs) => cutover.create(inputs),
    read: async (id, props) => ({ id, props }),
    update: (_id, olds, news) => cutover.update(olds, news),
    delete: (_id, olds) => cutover.remove(olds),
  },
};
