/**
 * The provider objects Pulumi serializes into the state. Each method loads the operations by
 * package name when it runs (`require` inside the method, nothing captured but the kind), so the
 * serialized text names no path of this machine and stays the same from checkout to checkout.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { ProviderKind } from "./runtime";

/** The dynamic provider of one kind; its methods run `lib/providers/runtime`'s operations. */
export function serializableProvider(kind: ProviderKind): pulumi.dynamic.ResourceProvider {
  const runtime = (): typeof import("./runtime") => require("rehost/providers/runtime");
  return {
    async configure(req) {
      runtime().configure(req.config);
    },
    check: (olds, news) => runtime().operations[kind].check(olds, news),
    diff: (id, olds, news) => runtime().operations[kind].diff(id, olds, news),
    create: (inputs) => runtime().operations[kind].create(inputs),
    read: (id, props) => runtime().operations[kind].read(id, props),
    update: (id, olds, news) => runtime().operations[kind].update(id, olds, news),
    delete: (id, olds) => runtime().operations[kind].delete(id, olds),
  };
}
