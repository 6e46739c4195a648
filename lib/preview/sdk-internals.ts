/**
 * Every use of `@pulumi/pulumi` past its documented API, in one place; the offline preview
 * (`mocks.ts`) is the only caller. Each one is pinned by `test/preview/sdk-internals.test.ts`,
 * which names the path that moved when an SDK upgrade removes or reshapes it.
 *
 * - `@pulumi/pulumi/runtime/state`, `getStore().settings.rpcDone`: the promise chain of every
 *   registration the runtime has started. The public `pulumi.runtime.disconnect()` waits on the same
 *   chain but then closes the monitor and the callback server, which the next mocked run reuses, so
 *   the preview waits on the chain itself ({@link settleRegistrations}).
 * - `@pulumi/pulumi/runtime/closure/serializeClosure` in `require.cache`: `dynamic/index.js` loads it
 *   lazily (`require("../runtime/closure/serializeClosure").serializeFunction`) when a dynamic resource
 *   is declared. The SDK offers no switch to skip that serialization, which under mocks is dead work
 *   costlier than the preview itself ({@link skipClosureSerialization}).
 * - The mock monitor's `registerResource(request, callback)` (the object `pulumi.runtime.getMonitor()`
 *   returns after `setMocks`) and the getters of the protobuf `RegisterResourceRequest` it receives:
 *   the public `Mocks.newResource` is told neither the parent, the dependencies nor `protect` /
 *   `retainOnDelete`, which the preview records ({@link interceptRegistrations}).
 */
import Module from "node:module";
import * as pulumi from "@pulumi/pulumi";

/** The private module paths used here, as `require` resolves them. */
export const SDK_STATE_MODULE = "@pulumi/pulumi/runtime/state";
export const SDK_CLOSURE_MODULE = "@pulumi/pulumi/runtime/closure/serializeClosure";

/** What the preview reads from a `RegisterResourceRequest` (the protobuf getters the mock monitor receives). */
export interface RegisterRequest {
  getType(): string;
  getName(): string;
  /** URN of the parent, or an empty text at the top level. */
  getParent(): string;
  getCustom(): boolean;
  /** The inputs as a protobuf `Struct`, for `pulumi.runtime.deserializeProperties`. */
  getObject(): unknown;
  getDependenciesList(): string[];
  getProtect(): boolean;
  getRetainondelete(): boolean;
}

interface InterceptableMonitor {
  registerResource(req: RegisterRequest, cb: unknown): unknown;
}

/**
 * Calls `onRegister` with each resource registration the current (mock) monitor receives, before
 * passing it on. Lasts until the next `setMocks` installs a new monitor.
 */
export function interceptRegistrations(onRegister: (req: RegisterRequest) => void): void {
  const monitor = pulumi.runtime.getMonitor() as unknown as InterceptableMonitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    onRegister(req);
    return register(req, cb);
  };
}

const state = require(SDK_STATE_MODULE) as { getStore(): { settings: { rpcDone: Promise<unknown> } } };

/** Waits until every registration the runtime started has finished. */
export async function settleRegistrations(): Promise<void> {
  const store = state.getStore();
  let done: Promise<unknown> | undefined;
  while (done !== store.settings.rpcDone) {
    done = store.settings.rpcDone;
    await done;
    await new Promise((r) => setImmediate(r));
  }
}

const CLOSURE_MODULE = require.resolve(SDK_CLOSURE_MODULE);

/**
 * A dynamic resource serializes its provider's code when it is declared; under mocks that code
 * never runs, and the serializer (which loads the TypeScript compiler and the inspector) costs
 * more than the rest of a cold preview. While a run lasts, the serializer returns an empty text;
 * the SDK caches that per provider object, so a process that previews never deploys.
 * @returns a function restoring the real serializer
 */
export function skipClosureSerialization(): () => void {
  const skip = async () => ({ text: "", containsSecrets: false });
  const loaded = require.cache[CLOSURE_MODULE];
  if (loaded !== undefined) {
    const exports = loaded.exports as { serializeFunction: unknown };
    const original = exports.serializeFunction;
    exports.serializeFunction = skip;
    return () => {
      exports.serializeFunction = original;
    };
  }
  const replacement = new Module(CLOSURE_MODULE);
  replacement.filename = CLOSURE_MODULE;
  replacement.loaded = true;
  replacement.exports = { serializeFunction: skip };
  require.cache[CLOSURE_MODULE] = replacement;
  return () => {
    if (require.cache[CLOSURE_MODULE] === replacement) delete require.cache[CLOSURE_MODULE];
  };
}
