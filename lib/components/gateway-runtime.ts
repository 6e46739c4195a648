/**
 * How a sync gateway gets its Node.js runtime (`GatewayRuntime`) and its checks: packages pinned
 * to exact versions from the image's own mirror, dnf module streams, an absolute `node` path.
 * `gatewayUserData` (`gateway-bootstrap.ts`) renders them into the user data's `install_runtime`.
 */
import { problem, type Problem } from "../problems";

/** How a gateway gets its Node.js runtime. */
export interface GatewayRuntime {
  /**
   * The image's package manager: `dnf` (Alibaba Cloud Linux, the default image), `apt` (Debian,
   * Ubuntu), or `none` for an image that already carries the runtime at `node`.
   */
  readonly manager: "dnf" | "apt" | "none";
  /** dnf module streams to enable first (`nodejs:20`). @default - none */
  readonly modules?: readonly string[];
  /**
   * Package name → exact version as the image's mirror names it (`nodejs: "20.16.0"`,
   * `gnutls-utils: "3.6.16"`): Node.js and the package that brings `certtool`, which the agent
   * uses to create its certificate. Never a range or `latest`.
   */
  readonly packages: Readonly<Record<string, string>>;
  /** The Node.js binary the agent runs with. @default "/usr/bin/node" */
  readonly node?: string;
}

/** The default Node.js binary of a packaged runtime. */
export const DEFAULT_NODE = "/usr/bin/node";

const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9.+_-]*$/;
/** An exact version: starts with a digit (or an epoch `N:`), no wildcard, range or tag. */
const PACKAGE_VERSION = /^([0-9]+:)?[0-9][A-Za-z0-9.+~_-]*$/;
const MODULE_STREAM = /^[A-Za-z0-9][A-Za-z0-9._-]*:[A-Za-z0-9._-]+$/;

/** Problems of a runtime description: unpinned or malformed packages, a relative node path. */
export function checkGatewayRuntime(runtime: GatewayRuntime, field = "gatewayRuntime"): Problem[] {
  const problems: Problem[] = [];
  if (!["dnf", "apt", "none"].includes(runtime.manager)) {
    problems.push(
      problem({
        field: `${field}.manager`,
        received: String(runtime.manager),
        expected: "dnf, apt or none",
        fix: "name the image's package manager",
        message: "The gateway runtime's package manager is unknown.",
      }),
    );
  }
  for (const [name, version] of Object.entries(runtime.packages)) {
    if (!PACKAGE_NAME.test(name)) {
      problems.push(
        problem({
          field: `${field}.packages`,
          received: name,
          expected: "a package name",
          fix: "e.g. nodejs",
          message: `Package name ${JSON.stringify(name)} is not valid.`,
        }),
      );
    }
    if (typeof version !== "string" || !PACKAGE_VERSION.test(version)) {
      problems.push(
        problem({
          field: `${field}.packages.${name}`,
          received: JSON.stringify(version),
          expected: "an exact version, e.g. 20.16.0",
          fix: "look it up on the image: dnf --showduplicates list NAME, or apt-cache madison NAME",
          message: `Package ${name} is not pinned to an exact version.`,
        }),
      );
    }
  }
  if (runtime.manager !== "none" && Object.keys(runtime.packages).length === 0) {
    problems.push(
      problem({
        field: `${field}.packages`,
        received: "{}",
        expected: "Node.js and certtool's package with their versions",
        fix: 'e.g. { nodejs: "20.16.0", gnutls-utils: "3.6.16" }, or manager: none on an image that has them',
        message: "The gateway runtime installs no package.",
      }),
    );
  }
  if (runtime.manager === "none" && Object.keys(runtime.packages).length > 0) {
    problems.push(
      problem({
        field: `${field}.packages`,
        received: Object.keys(runtime.packages).join(", "),
        expected: "no packages with manager none",
        fix: "name the package manager, or drop the packages",
        message: "Packages cannot be installed without a package manager.",
      }),
    );
  }
  for (const stream of runtime.modules ?? []) {
    if (runtime.manager !== "dnf" || !MODULE_STREAM.test(stream)) {
      problems.push(
        problem({
          field: `${field}.modules`,
          received: stream,
          expected: "NAME:STREAM with manager dnf",
          fix: "e.g. nodejs:20",
          message: `Module stream ${stream} cannot be enabled.`,
        }),
      );
    }
  }
  const node = runtime.node ?? DEFAULT_NODE;
  if (!node.startsWith("/")) {
    problems.push(
      problem({
        field: `${field}.node`,
        received: node,
        expected: "an absolute path",
        fix: "e.g. /usr/bin/node",
        message: "The Node.js binary is not an absolute path.",
      }),
    );
  }
  return problems;
}

/** The packages a runtime installs, as its package manager names a pinned one (`nodejs-20.16.0`, `nodejs=20.16.0`). */
export function pinnedPackages(runtime: GatewayRuntime): string[] {
  const separator = runtime.manager === "apt" ? "=" : "-";
  return Object.entries(runtime.packages).map(([name, version]) => `${name}${separator}${version}`);
}
