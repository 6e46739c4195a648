/**
 * `rehost proxy`: runs the on-prem source proxy until SIGINT or SIGTERM (docs/proxy.md).
 *
 * Every local input (listen address, files, the reader's needs, the password) is checked before
 * vCenter is contacted; vCenter is then logged in to once, and an unreachable vCenter, a refused
 * login or an untrusted certificate is bad input (exit 2) like the rest.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Option, type Command } from "commander";
import { InputError, problem, textWithFieldNames, withFieldNames, type Problem } from "../../problems";
import { certificateProblems, listenAddress, pathProblems, VCENTER_FLAGS } from "../flags";
import { serveUntilSignal } from "../serve";

interface ProxyCommandOptions {
  state: string;
  listen: string;
  vcenter: string;
  user: string;
  ca?: string;
  thumbprint?: string;
  insecure?: boolean;
  agentTokenFile: string;
  agentFingerprint?: string;
  agentCa?: string;
  reader: "curl" | "vddk";
  vddkLibdir?: string;
  cert?: string;
  key?: string;
  tokenFile?: string;
  retryDelay: string;
  compressionLevel?: string;
  bandwidth?: string;
}

/** Registers `rehost proxy`. */
export function register(program: Command): void {
  program
    .command("proxy")
    .description(
      "Run the on-prem source proxy: rounds of vSphere snapshots and changed blocks pushed to the sync gateways' agents (HTTPS API; JSON-lines logs on stdout).",
    )
    .requiredOption("--state <dir>", "directory for the VMs' records, block hashes, the certificate and the token")
    .requiredOption("--listen <host:port>", "address of the proxy's API, e.g. 10.0.0.5:8444")
    .requiredOption("--vcenter <url>", "vCenter address (https://vcenter.example.com)")
    .requiredOption("--user <user>", "vCenter user; the password comes from REHOST_VCENTER_PASSWORD or a prompt")
    .requiredOption("--agent-token-file <file>", "file holding the bearer token of the sync gateways' agents")
    .option("--agent-fingerprint <sha256>", "the agents' certificate SHA-256 fingerprints, comma-separated (or --agent-ca)")
    .option("--agent-ca <file>", "PEM CA the agents' certificates chain to")
    .option("--ca <file>", "PEM file with the CA certificate vCenter's certificate is signed by")
    .option("--thumbprint <sha>", "trust exactly the vCenter certificate with this SHA-256 (or SHA-1) fingerprint")
    .option("--insecure", "do not verify vCenter's certificate (labs only; prints a warning)")
    .addOption(
      new Option("--reader <kind>", "how frozen disks are read: nbdkit curl over datastore HTTP, or nbdkit vddk with VMware's VDDK")
        .choices(["curl", "vddk"])
        .default("curl"),
    )
    .option("--vddk-libdir <dir>", "VDDK's directory (holding lib64/libvixDiskLib.so), for --reader vddk")
    .option("--cert <file>", "PEM certificate of the API (default: self-signed, created on first start)")
    .option("--key <file>", "PEM private key of --cert")
    .option("--token-file <file>", "file holding the API's bearer token (default: <state>/token, created if missing)")
    .option("--retry-delay <seconds>", "first retry of a failed round, doubled per failure up to the VM's recovery point", "30")
    .option(
      "--compression-level <level|off>",
      "zstd level of the frames pushed to the agents (-7 to -1, 1 to 19), or off (default 1; a disk's registration may name its own)",
    )
    .option(
      "--bandwidth <file|rate>",
      "the link's cap: a rate for the whole proxy (200Mbit, 25M, unlimited), or a schedule file (time-of-day windows, blackouts, per-gateway caps; re-read when it changes); default unlimited",
    )
    .addHelpText(
      "after",
      `
Example:
  REHOST_VCENTER_PASSWORD=... rehost proxy --state /var/lib/rehost-proxy --listen 10.0.0.5:8444 \\
    --vcenter https://vcenter.example.com --user rehost@vsphere.local --ca /etc/rehost/vcenter-ca.pem \\
    --agent-token-file /etc/rehost/agent-token --agent-fingerprint AB:CD:...

Exit codes: 0 stopped by SIGINT/SIGTERM; 2 bad input (every problem printed); 3 an unexpected failure.`,
    )
    .action(async (opts: ProxyCommandOptions) => {
      const listen = listenAddress(opts.listen, "10.0.0.5:8444");
      const problems: Problem[] = [...listen.problems];
      problems.push(
        ...pathProblems([
          ["--agent-token-file", opts.agentTokenFile],
          ["--agent-ca", opts.agentCa],
          ["--ca", opts.ca],
          ["--cert", opts.cert],
          ["--key", opts.key],
        ]),
      );
      const agentToken = fs.statSync(opts.agentTokenFile, { throwIfNoEntry: false })?.isFile()
        ? fs.readFileSync(opts.agentTokenFile, "utf8").trim()
        : undefined;
      if (agentToken === "")
        problems.push(
          problem({
            field: "--agent-token-file",
            received: opts.agentTokenFile,
            expected: "a file holding the agents' token",
            fix: "copy the token from an agent's <state>/token",
            message: "The agent token file is empty.",
          }),
        );
      if (opts.agentFingerprint === undefined && opts.agentCa === undefined) {
        problems.push(
          problem({
            field: "--agent-fingerprint",
            expected: "the agents' certificate fingerprints, or --agent-ca",
            fix: "pass the fingerprint each agent prints at start (or its CA with --agent-ca)",
            message: "The proxy must know how to trust the agents before it sends them data.",
          }),
        );
      }
      problems.push(...certificateProblems(opts.cert, opts.key));
      if ([opts.ca, opts.thumbprint, opts.insecure].filter((o) => o !== undefined).length > 1) {
        problems.push(
          problem({
            field: "--ca",
            expected: "one of --ca, --thumbprint, --insecure",
            fix: "choose one way to trust vCenter",
            message: "vCenter's certificate is trusted in more than one way.",
          }),
        );
      }
      if (opts.reader === "vddk") problems.push(...vddkProblems(opts.vddkLibdir));
      const retryDelay = Number(opts.retryDelay);
      if (!(retryDelay > 0) || !Number.isFinite(retryDelay)) {
        problems.push(
          problem({
            field: "--retry-delay",
            received: opts.retryDelay,
            expected: "a positive number of seconds",
            fix: "e.g. --retry-delay 30",
            message: "The retry delay is not a positive number of seconds.",
          }),
        );
      }
      let compressionLevel: number | "off" | undefined;
      if (opts.compressionLevel !== undefined) {
        if (opts.compressionLevel.trim().toLowerCase() === "off") compressionLevel = "off";
        else {
          const { checkLevel }: typeof import("../../link/codec") = require("../../link/codec");
          try {
            compressionLevel = checkLevel(Number(opts.compressionLevel.trim() === "" ? NaN : opts.compressionLevel), "--compression-level");
          } catch (err) {
            if (!(err instanceof InputError)) throw err;
            problems.push(...err.problems.map((p) => ({ ...p, received: opts.compressionLevel })));
          }
        }
      }
      let bandwidth: import("../../link/bandwidth").Bandwidth | undefined;
      let bandwidthFile: string | undefined;
      if (opts.bandwidth !== undefined) {
        const { bandwidthArgument }: typeof import("../../link/bandwidth") = require("../../link/bandwidth");
        try {
          const parsed = bandwidthArgument(opts.bandwidth);
          bandwidth = parsed.bandwidth;
          bandwidthFile = parsed.file === undefined ? undefined : path.resolve(parsed.file);
        } catch (err) {
          const named = withFieldNames(err, { bandwidth: "--bandwidth" });
          if (!(named instanceof InputError)) throw named;
          problems.push(...named.problems);
        }
      }
      if (problems.length > 0) throw new InputError(problems);

      const { connectVSphere, resolvePassword }: typeof import("../../vsphere") = require("../../vsphere");
      const password = await resolvePassword(opts.user);
      const vc = await connectVSphere({
        url: opts.vcenter,
        user: opts.user,
        password,
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        ...(opts.thumbprint !== undefined ? { thumbprint: opts.thumbprint } : {}),
        insecure: opts.insecure ?? false,
        warn: (m: string) => process.stderr.write(`rehost proxy: warning: ${textWithFieldNames(m, VCENTER_FLAGS)}\n`),
      }).catch((err: unknown) => {
        throw withFieldNames(err, VCENTER_FLAGS);
      });
      const { startProxy }: typeof import("../../proxy") = require("../../proxy");
      const stateDir = path.resolve(opts.state);
      let vddk: { libdir: string; user: string; passwordFile: string; thumbprint: string } | undefined;
      if (opts.reader === "vddk") vddk = await vddkAccess(vc.baseUrl, opts.user, password, stateDir, opts.vddkLibdir!);
      const proxy = await startProxy({
        stateDir,
        host: listen.host,
        port: listen.port,
        vc,
        agents: { token: agentToken!, fingerprint: opts.agentFingerprint, ca: opts.agentCa !== undefined ? fs.readFileSync(opts.agentCa, "utf8") : undefined },
        reader: { kind: opts.reader, caFile: opts.ca, insecure: opts.insecure, thumbprint: opts.thumbprint, vddk },
        certFile: opts.cert,
        keyFile: opts.key,
        tokenFile: opts.tokenFile,
        retryDelayMs: retryDelay * 1000,
        compressionLevel,
        bandwidth,
        bandwidthFile,
      });
      await serveUntilSignal("proxy", proxy);
      await vc.logout().catch(() => undefined);
    });
}

/** What --reader vddk needs on this host: nbdkit's vddk plugin and VDDK itself. */
function vddkProblems(libdir: string | undefined): Problem[] {
  if (libdir === undefined)
    return [
      problem({
        field: "--vddk-libdir",
        expected: "VDDK's directory",
        fix: "download VDDK from VMware (Broadcom) and pass the directory holding lib64/",
        message: "--reader vddk needs --vddk-libdir.",
      }),
    ];
  const lib64 = path.join(libdir, "lib64");
  const found = fs.existsSync(lib64) && fs.readdirSync(lib64).some((f) => f.startsWith("libvixDiskLib.so"));
  const problems: Problem[] = [];
  if (!found)
    problems.push(
      problem({
        field: "--vddk-libdir",
        received: libdir,
        expected: "a directory holding lib64/libvixDiskLib.so",
        fix: "pass the vmware-vix-disklib-distrib directory of an unpacked VDDK",
        message: `VDDK is not in ${libdir}.`,
      }),
    );
  const { spawnSync }: typeof import("node:child_process") = require("node:child_process");
  const plugin = spawnSync("nbdkit", ["vddk", "--dump-plugin"], { encoding: "utf8" });
  if (plugin.status !== 0 && !/libvixDiskLib/.test(plugin.stderr ?? "")) {
    problems.push(
      problem({
        field: "--reader",
        received: "vddk",
        expected: "nbdkit's vddk plugin on this host",
        fix: "install nbdkit with its vddk plugin (built from nbdkit's sources with the plugin enabled), or use --reader curl",
        message: `nbdkit's vddk plugin cannot be loaded: ${(plugin.stderr || plugin.error?.message || "").trim().split("\n")[0]}`,
      }),
    );
  }
  return problems;
}

/** VDDK's access: the password in a file of mode 0600 in the state directory, vCenter's SHA-1 thumbprint. */
async function vddkAccess(baseUrl: string, user: string, password: string, stateDir: string, libdir: string) {
  const { peerCertificate }: typeof import("../../vsphere/transport") = require("../../vsphere/transport");
  const { writeFileAtomic }: typeof import("../../service/files") = require("../../service/files");
  const peer = await peerCertificate(new URL(baseUrl), 10_000);
  if (peer === undefined) throw new Error(`The certificate of ${baseUrl} could not be read for VDDK's thumbprint.`);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const passwordFile = path.join(stateDir, "vddk-password");
  writeFileAtomic(passwordFile, password);
  return { libdir, user, passwordFile, thumbprint: peer.sha1 };
}
