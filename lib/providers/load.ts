/**
 * How provider methods reach their code. A dynamic provider is serialized into the Pulumi state
 * and run later by the dynamic-provider host, so its methods must not capture imported modules:
 * they capture these absolute paths (plain strings) and `require()` them when called. When the
 * sources are TypeScript (a checkout), tsx's require hook is loaded first.
 */
const RUNTIME_PATH: string = require.resolve("./runtime");
const INPUTS_PATH: string = require.resolve("./inputs");
const TSX_PATH: string | undefined = RUNTIME_PATH.endsWith(".ts") ? require.resolve("tsx/cjs") : undefined;

/** The module with the providers' operations. */
export function loadRuntime(): typeof import("./runtime") {
  if (TSX_PATH !== undefined) require(TSX_PATH);
  return require(RUNTIME_PATH);
}

/** The module with the providers' input schemas and diff. */
export function loadInputs(): typeof import("./inputs") {
  if (TSX_PATH !== undefined) require(TSX_PATH);
  return require(INPUTS_PATH);
}
