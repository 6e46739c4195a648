/**
 * A sync gateway's user data, rendered and run. The bundle is the real one (`npm pack` of this
 * project and the agent's dependencies, built once for the file); the script runs as root inside
 * a network namespace the test creates, with no route out, against a stand-in for the metadata
 * service and the bucket's internal endpoint started in that namespace; the Node.js of this
 * machine stands in for the image's package (a runtime on the image, `manager: "none"`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAgentBundle, type AgentBundle } from "../../lib/components/agent-bundle";
import { gatewayUserData, type GatewayBootstrapSettings } from "../../lib/components/gateway-bootstrap";
import { checkGatewayRuntime, type GatewayRuntime } from "../../lib/components/gateway-runtime";
import { packageVersion } from "../../lib/service/package";
import { tempDir } from "../helpers/nbd-servers";

const REPOSITORY = path.resolve(__dirname, "..", "..");
const dir = tempDir("rehost-bootstrap-");
const ns = `rehost-boot-${process.pid}`;
const STAND_IN_PORT = 8080;
const stand = {
  bucket: "rehost-1234567890123456-wave-1-agent",
  role: "rehost-wave-1-agent-gateway",
  credentials: { AccessKeyId: "STS.test-key", AccessKeySecret: "test-secret", SecurityToken: "test-security-token" },
};
const standInLog = path.join(dir, "stand-in.log");
let standIn: ChildProcess | undefined;
let bundle: AgentBundle;
const agentPids: number[] = [];

const token = "bootstrap-test-token";
const psk = "00112233445566778899aabbccddeeff";
const goodKey = "rehost/agent/good.tgz";
const tamperedKey = "rehost/agent/tampered.tgz";

/** A gateway's settings as the wave stack renders them. */
function productionSettings(): GatewayBootstrapSettings {
  return {
    port: 8443,
    allow: ["d-wz9aaaaaaaaaaaaaaaa1", "d-wz9bbbbbbbbbbbbbbbb2"],
    token,
    psk,
    pskFileName: "site.psk",
    bundle: {
      endpoint: `https://${stand.bucket}.oss-cn-shenzhen-internal.aliyuncs.com`,
      bucket: stand.bucket,
      key: `rehost/agent/0.1.0/${"5e".repeat(32)}.tgz`,
      sha256: "5e".repeat(32),
      version: "0.1.0",
      ramRole: stand.role,
    },
    runtime: { manager: "dnf", modules: ["nodejs:20"], packages: { nodejs: "20.16.0", "gnutls-utils": "3.6.16" } },
  };
}

/** Settings that run here: paths under `root`, the stand-in as bucket and metadata service, this machine's Node. */
function localSettings(
  name: string,
  port: number,
  key: string,
  runtime: GatewayRuntime = { manager: "none", packages: {}, node: process.execPath },
): GatewayBootstrapSettings {
  const production = productionSettings();
  return {
    ...production,
    port,
    bundle: {
      ...production.bundle,
      endpoint: `http://127.0.0.1:${STAND_IN_PORT}`,
      key,
      sha256: bundle.sha256,
      version: bundle.version,
      metadataUrl: `http://127.0.0.1:${STAND_IN_PORT}`,
    },
    runtime,
    supervisor: "none",
    root: path.join(dir, name),
    console: path.join(dir, `${name}.console`),
    fetchTimeoutSeconds: 30,
    healthTimeoutSeconds: 60,
  };
}

function inNamespace(command: string, args: readonly string[], timeout = 180_000) {
  return spawnSync("ip", ["netns", "exec", ns, command, ...args], { encoding: "utf8", timeout });
}

/** Renders and runs the user data of `settings` in the namespace; returns its exit status and log. */
function runUserData(settings: GatewayBootstrapSettings) {
  const script = path.join(dir, `${path.basename(settings.root!)}.user-data.sh`);
  fs.writeFileSync(script, gatewayUserData(settings), { mode: 0o700 });
  const result = inNamespace("bash", [script]);
  const log = fs.readFileSync(path.join(settings.root!, "var", "log", "rehost-bootstrap.log"), "utf8");
  return { status: result.status, stderr: result.stderr, log };
}

/** Asks the agent for its health from inside the namespace, trusting its own certificate. */
function health(settings: GatewayBootstrapSettings): { status: number; body: Record<string, unknown> } | { error: string } {
  const probe = `
    const https = require("node:https"), fs = require("node:fs");
    const [port, tokenFile, certFile] = process.argv.slice(1);
    const req = https.get("https://127.0.0.1:" + port + "/v1/health", { headers: { Authorization: "Bearer " + fs.readFileSync(tokenFile, "utf8") }, ca: fs.readFileSync(certFile), checkServerIdentity: () => undefined, timeout: 5000 }, (res) => {
      let body = ""; res.on("data", (c) => (body += c)); res.on("end", () => console.log(JSON.stringify({ status: res.statusCode, body: JSON.parse(body) })));
    });
    req.on("error", (e) => console.log(JSON.stringify({ error: e.message })));`;
  const root = settings.root!;
  const out = inNamespace(
    process.execPath,
    ["-e", probe, String(settings.port), path.join(root, "etc/rehost/agent.token"), path.join(root, "var/lib/rehost/tls/cert.pem")],
    20_000,
  );
  return JSON.parse(out.stdout.trim() || JSON.stringify({ error: out.stderr }));
}

function standInRequests(): Array<{ kind: string; key?: string; status: number; signed?: boolean }> {
  return fs.existsSync(standInLog)
    ? fs
        .readFileSync(standInLog, "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
}

function pidOf(settings: GatewayBootstrapSettings): number | undefined {
  const file = path.join(settings.root!, "run", "rehost-agent.pid");
  return fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8").trim()) : undefined;
}

beforeAll(async () => {
  // The real build: npm pack of this checkout (compiled by the global setup) and the agent's dependencies.
  bundle = buildAgentBundle({ outDir: path.join(dir, "bundles"), packageDir: REPOSITORY });
  const tampered = path.join(dir, "tampered.tgz");
  const bytes = fs.readFileSync(bundle.file);
  bytes[bytes.length - 100] ^= 0xff;
  fs.writeFileSync(tampered, bytes);

  expect(spawnSync("ip", ["netns", "add", ns]).status).toBe(0);
  expect(spawnSync("ip", ["-n", ns, "link", "set", "lo", "up"]).status).toBe(0);
  const config = path.join(dir, "stand-in.json");
  fs.writeFileSync(
    config,
    JSON.stringify({
      host: "127.0.0.1",
      port: STAND_IN_PORT,
      ...stand,
      objects: { [goodKey]: bundle.file, [tamperedKey]: tampered },
      roleMissingFor: 2,
      log: standInLog,
    }),
  );
  standIn = spawn("ip", ["netns", "exec", ns, process.execPath, "--import", "tsx", path.join(REPOSITORY, "test", "helpers", "oss-stand-in.ts"), config], {
    cwd: REPOSITORY,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    standIn!.stdout!.on("data", (chunk: Buffer) => (chunk.toString().includes("listening") ? resolve() : undefined));
    standIn!.once("exit", (code) => reject(new Error(`the stand-in exited with ${code}`)));
  });
}, 180_000);

afterAll(() => {
  for (const pid of agentPids) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // Already gone.
    }
  }
  // `ip netns exec` runs the stand-in as its child: stop the child by its PID, then the namespace.
  if (standIn?.pid !== undefined) {
    const child = spawnSync("pgrep", ["-P", String(standIn.pid)], { encoding: "utf8" }).stdout.trim();
    for (const pid of child.split("\n").filter(Boolean)) process.kill(Number(pid), "SIGTERM");
    standIn.kill("SIGTERM");
  }
  spawnSync("ip", ["netns", "del", ns]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Every address a text names: URL hosts, bare host names, IPv4 literals. */
function addressesIn(text: string): string[] {
  const urls = [...text.matchAll(/\b[a-z][a-z0-9+.-]*:\/\/([^\s/'"$:]+)/gi)].map((m) => m[1]!);
  const hosts = [...text.matchAll(/\b(?:[a-z0-9-]+\.)+(?:com|cn|net|org|io|sh|dev|cloud)\b/gi)].map((m) => m[0]);
  const ips = [...text.matchAll(/\b\d{1,3}(?:\.\d{1,3}){3}\b/g)].map((m) => m[0]);
  return [...new Set([...urls, ...hosts, ...ips])];
}

/** Whether a gateway with no route to the internet reaches `address`: private, loopback, the metadata service, an internal endpoint. */
function insideTheVpc(address: string): boolean {
  if (/^\d/.test(address)) {
    const [a, b] = address.split(".").map(Number) as [number, number];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || address === "100.100.100.200" || address === "0.0.0.0";
  }
  return /-internal\.aliyuncs\.com$/.test(address) || address === "mirrors.cloud.aliyuncs.com";
}

describe("the gateway's user data", () => {
  it("names no internet address and installs no unpinned package", () => {
    const script = gatewayUserData(productionSettings());
    const addresses = addressesIn(script);
    expect(addresses).toContain(`${stand.bucket}.oss-cn-shenzhen-internal.aliyuncs.com`);
    expect(addresses).toContain("100.100.100.200");
    expect(addresses.filter((a) => !insideTheVpc(a))).toEqual([]);
    // Nothing fetched from a registry or the internet by any tool.
    expect(script).not.toMatch(/\b(npm|npx|yarn|pnpm|pip3?|curl|wget)\s/);
    // The only packages installed are the pinned ones, through the image's package manager.
    const packages = /^REHOST_RUNTIME_PACKAGES='([^']*)'$/m.exec(script)![1]!.split(" ");
    expect(packages).toEqual(["nodejs-20.16.0", "gnutls-utils-3.6.16"]);
    // Every command line (not a message) that runs a package manager's install.
    const installs = script.split("\n").filter((l) => /^\s*(if !\s+)?(\w+=\S+\s+)*(dnf|yum|apt-get|apt)\s.*\binstall\b/.test(l));
    expect(installs.length).toBeGreaterThan(0);
    for (const line of installs)
      expect(
        line
          .replace(/.*\binstall\b/, "")
          .replace(/>>.*/, "")
          .trim()
          .split(/\s+/)
          .filter((a) => !a.startsWith("-")),
      ).toEqual(["$missing"]);
    // Fits ECS user data (32 KiB) and parses.
    expect(Buffer.byteLength(script)).toBeLessThan(16 * 1024);
    const file = path.join(dir, "production.user-data.sh");
    fs.writeFileSync(file, script);
    expect(spawnSync("bash", ["-n", file], { encoding: "utf8" }).stderr).toBe("");
    // The agent is allowed the gateway's disks by id, and started from the verified release only.
    expect(script).toContain("REHOST_ALLOW='d-wz9aaaaaaaaaaaaaaaa1,d-wz9bbbbbbbbbbbbbbbb2'");
    expect(script).toContain('RELEASE="$HOME_DIR/releases/$REHOST_BUNDLE_SHA256"');
  });

  it.each([
    [{ manager: "dnf", packages: { nodejs: "latest" } }, "Package nodejs is not pinned"],
    [{ manager: "dnf", packages: { nodejs: ">=20" } }, "Package nodejs is not pinned"],
    [{ manager: "dnf", packages: { nodejs: "20.*" } }, "Package nodejs is not pinned"],
    [{ manager: "apt", packages: { nodejs: "" } }, "Package nodejs is not pinned"],
    [{ manager: "dnf", packages: {} }, "installs no package"],
    [{ manager: "none", packages: { nodejs: "20.16.0" } }, "cannot be installed without a package manager"],
    [{ manager: "none", packages: {}, node: "node" }, "not an absolute path"],
    [{ manager: "apt", modules: ["nodejs:20"], packages: { nodejs: "20.16.0+dfsg-1" } }, "cannot be enabled"],
  ] as Array<[GatewayRuntime, string]>)("refuses the runtime %j", (runtime, message) => {
    expect(
      checkGatewayRuntime(runtime)
        .map((p) => p.message)
        .join(" "),
    ).toContain(message);
    expect(() => gatewayUserData({ ...productionSettings(), runtime })).toThrow(message);
  });

  it("accepts exact versions, with an epoch or a Debian revision", () => {
    expect(checkGatewayRuntime({ manager: "dnf", modules: ["nodejs:20"], packages: { nodejs: "1:20.16.0-1.module+al8+123" } })).toEqual([]);
    expect(checkGatewayRuntime({ manager: "apt", packages: { nodejs: "20.19.2+dfsg-1", "gnutls-bin": "3.8.9-3" } })).toEqual([]);
  });

  it("runs in a namespace with no route out: installs the packed build from the bucket stand-in and starts the agent", () => {
    expect(inNamespace("ip", ["route", "get", "1.1.1.1"]).status).not.toBe(0);
    const settings = localSettings("gateway-1", 8443, goodKey);
    const first = runUserData(settings);
    expect(first.status, first.log).toBe(0);
    expect(first.log).toContain(`checksum verified: SHA-256 ${bundle.sha256}`);
    expect(first.log).toContain("bootstrap done");
    // The log also went to the console.
    expect(fs.readFileSync(settings.console!, "utf8")).toContain("bootstrap done");
    // The role's credentials were asked for until the role was "attached", and the GET was signed with them.
    const requests = standInRequests();
    expect(requests.filter((r) => r.kind === "credentials").map((r) => r.status)).toEqual([404, 404, 200]);
    expect(requests.filter((r) => r.kind === "object")).toEqual([{ kind: "object", key: goodKey, status: 200, signed: true }]);
    // The release is exactly the packed build: its manifest names the npm pack tarball's checksum.
    const release = path.join(settings.root!, "opt", "rehost", "releases", bundle.sha256);
    expect(JSON.parse(fs.readFileSync(path.join(release, "rehost-bundle.json"), "utf8")).pack.sha256).toBe(bundle.packSha256);
    const pid = pidOf(settings)!;
    agentPids.push(pid);
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toContain(path.join(release, "package", "bin", "rehost.js"));
    const answer = health(settings);
    expect(answer).toMatchObject({ status: 200, body: { ok: true, service: "rehost-agent", version: packageVersion() } });
    expect(first.log).toContain(`rehost agent ${packageVersion()} answers on port 8443`);

    // Again: nothing fetched, nothing restarted.
    const second = runUserData(settings);
    expect(second.status, second.log).toBe(0);
    const rerun = second.log.slice(first.log.length);
    expect(rerun).toContain("bundle already here");
    expect(rerun).toContain("release already installed");
    expect(rerun).toContain(`agent already running with this release (pid ${pid})`);
    expect(standInRequests().filter((r) => r.kind === "object")).toHaveLength(1);
    expect(pidOf(settings)).toBe(pid);
  }, 240_000);

  it("refuses a tampered bundle: exits non-zero, installs nothing, starts no agent", () => {
    const settings = localSettings("gateway-2", 9443, tamperedKey);
    const run = runUserData(settings);
    expect(run.status).not.toBe(0);
    expect(run.log).toMatch(
      new RegExp(`FAILED: checksum mismatch: .* has SHA-256 [0-9a-f]{64}, the stack deployed ${bundle.sha256}; nothing installed, the agent is not started`),
    );
    expect(run.log).not.toContain("agent started");
    expect(fs.existsSync(path.join(settings.root!, "opt", "rehost", "releases", bundle.sha256))).toBe(false);
    expect(fs.existsSync(path.join(settings.root!, "opt", "rehost", "bundles", `${bundle.sha256}.tgz`))).toBe(false);
    expect(pidOf(settings)).toBeUndefined();
    expect(health(settings)).toMatchObject({ error: expect.stringMatching(/ECONNREFUSED|ENOENT/) });
  }, 120_000);

  it("stops at the runtime step when the runtime is missing or too old", () => {
    const missing = runUserData(localSettings("gateway-3", 10443, goodKey, { manager: "none", packages: {}, node: path.join(dir, "no-such-node") }));
    expect(missing.status).not.toBe(0);
    expect(missing.log).toContain(`FAILED: no Node.js at ${path.join(dir, "no-such-node")}`);
    const old = runUserData({ ...localSettings("gateway-4", 11443, goodKey), nodeMajor: 99 });
    expect(old.status).not.toBe(0);
    expect(old.log).toMatch(/FAILED: .* is Node\.js v\d+\.\d+\.\d+, older than 99/);
    // Neither got as far as the bucket.
    expect(missing.log + old.log).not.toContain("fetching");
  }, 60_000);
});
