/**
 * Pins each use of `@pulumi/pulumi` past its documented API (listed in lib/preview/sdk-internals.ts):
 * after an SDK upgrade that removes or reshapes one, the failing test names the path to revisit.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeEach, describe, expect, it } from "vitest";
import {
  interceptRegistrations,
  type RegisterRequest,
  SDK_CLOSURE_MODULE,
  SDK_STATE_MODULE,
  settleRegistrations,
  skipClosureSerialization,
} from "../../lib/preview/sdk-internals";

const MONITOR = "pulumi.runtime.getMonitor().registerResource and the RegisterResourceRequest getters";

/** Loads a private SDK module, failing with a message that names it. */
function load(path: string): Record<string, unknown> {
  try {
    return require(path) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`the SDK no longer has ${path} (${String(err)}); revisit lib/preview/sdk-internals.ts`);
  }
}

class Thing extends pulumi.CustomResource {
  constructor(name: string, props: pulumi.Inputs = {}, opts: pulumi.CustomResourceOptions = {}) {
    super("test:index:Thing", name, props, opts);
  }
}

class Dynamic extends pulumi.dynamic.Resource {
  constructor(name: string) {
    const provider: pulumi.dynamic.ResourceProvider = { create: async () => ({ id: "x" }) };
    super(provider, name, {});
  }
}

async function installMocks(): Promise<void> {
  await pulumi.runtime.setMocks(
    { newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs },
    "project",
    "stack",
    true,
  );
}

describe("private @pulumi/pulumi paths the offline preview uses", () => {
  beforeEach(installMocks);

  it(`${SDK_STATE_MODULE}: getStore().settings.rpcDone is the chain of registrations`, async () => {
    const state = load(SDK_STATE_MODULE);
    expect(typeof state.getStore, `${SDK_STATE_MODULE} no longer exports getStore()`).toBe("function");
    const store = (state.getStore as () => { settings?: { rpcDone?: unknown } })();
    const before = store.settings?.rpcDone;
    expect(before instanceof Promise, `${SDK_STATE_MODULE}: getStore().settings.rpcDone is no longer a promise`).toBe(true);

    const seen: string[] = [];
    interceptRegistrations((req) => seen.push(req.getName()));
    new Thing("chained");
    await new Promise((r) => setImmediate(r));
    expect(store.settings?.rpcDone, `${SDK_STATE_MODULE}: a registration no longer extends getStore().settings.rpcDone`).not.toBe(before);
    await settleRegistrations();
    expect(seen, `${SDK_STATE_MODULE}: settleRegistrations() returned before the registration reached the monitor`).toContain("chained");
  });

  it(`${SDK_CLOSURE_MODULE}: a dynamic resource serializes its provider through this module's serializeFunction`, async () => {
    const closure = load(SDK_CLOSURE_MODULE);
    expect(typeof closure.serializeFunction, `${SDK_CLOSURE_MODULE} no longer exports serializeFunction()`).toBe("function");

    const providers: unknown[] = [];
    interceptRegistrations((req) => {
      if (req.getName() === "dynamic") providers.push(pulumi.runtime.deserializeProperties(req.getObject() as never, false).__provider);
    });
    const restore = skipClosureSerialization();
    try {
      new Dynamic("dynamic");
      await settleRegistrations();
    } finally {
      restore();
    }
    expect(
      providers,
      `dynamic resources no longer serialize their provider through ${SDK_CLOSURE_MODULE} (require.cache); the preview would serialize every provider`,
    ).toEqual([""]);
  });

  it(`${MONITOR}: the preview reads type, name, parent, inputs, dependencies, protect and retainOnDelete`, async () => {
    const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource?: unknown } | undefined;
    expect(typeof monitor?.registerResource, `pulumi.runtime.getMonitor() under setMocks no longer has registerResource(request, callback)`).toBe("function");

    const requests: RegisterRequest[] = [];
    interceptRegistrations((req) => requests.push(req));
    const parent = new pulumi.ComponentResource("test:index:Parent", "parent");
    const other = new Thing("other");
    new Thing("child", { size: 3, password: pulumi.secret("s3cret") }, { parent, dependsOn: [other], protect: true, retainOnDelete: true });
    await settleRegistrations();

    const child = requests.find((req) => typeof req.getName === "function" && req.getName() === "child");
    expect(child, `${MONITOR}: no request with getName() === "child" reached registerResource`).toBeDefined();
    const getters = ["getType", "getName", "getParent", "getCustom", "getObject", "getDependenciesList", "getProtect", "getRetainondelete"] as const;
    for (const getter of getters) {
      expect(typeof (child as unknown as Record<string, unknown>)[getter], `${MONITOR}: RegisterResourceRequest no longer has ${getter}()`).toBe("function");
    }
    const req = child as RegisterRequest;
    expect(req.getType(), `${MONITOR}: getType()`).toBe("test:index:Thing");
    expect(req.getParent().split("::").pop(), `${MONITOR}: getParent() is no longer the parent's URN`).toBe("parent");
    expect(req.getCustom(), `${MONITOR}: getCustom()`).toBe(true);
    expect(
      req.getDependenciesList().map((urn) => urn.split("::").pop()),
      `${MONITOR}: getDependenciesList() no longer lists dependsOn URNs`,
    ).toContain("other");
    expect(req.getProtect(), `${MONITOR}: getProtect()`).toBe(true);
    expect(req.getRetainondelete(), `${MONITOR}: getRetainondelete()`).toBe(true);
    const inputs = pulumi.runtime.deserializeProperties(req.getObject() as never, false);
    expect(inputs.size, `${MONITOR}: getObject() no longer deserializes with pulumi.runtime.deserializeProperties`).toBe(3);
    expect(inputs.password, `${MONITOR}: secrets no longer arrive as { [specialSigKey]: specialSecretSig }`).toMatchObject({
      [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
    });
    const component = requests.find((r) => r.getName() === "parent");
    expect(component?.getCustom(), `${MONITOR}: getCustom() is no longer false for a component`).toBe(false);
  });
});
