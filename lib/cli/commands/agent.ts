/**
 * `rehost agent`: runs the sync-gateway agent until SIGINT or SIGTERM.
 */
import type { Command } from "commander";
import { InputError, problem, type Problem } from "../../problems";
import { certificateProblems, listenAddress, pathProblems } from "../flags";
import { serveUntilSignal } from "../serve";
import { isDiskId } from "../../agent/disks";

interface AgentCommandOptions {
  state: string;
  listen: string;
  allow: string;
  cert?: string;
  key?: string;
  tokenFile?: string;
  credentials?: string;
  maxConcurrent: string;
  bandwidth?: string;
  checkpointInterval?: string;
  idleTimeout: string;
  diskById?: string;
  sysDevBlock?: string;
}

/** Registers `rehost agent`. */
export function register(program: Command): void {
  program
    .command("agent")
    .description("Run the sync-gateway agent: an HTTPS API that copies source disks to the gateway's devices (JSON-lines logs on stdout).")
    .requiredOption("--state <dir>", "directory for job records, journals, the certificate and the token")
    .requiredOption("--listen <host:port>", "address to listen on, e.g. 127.0.0.1:8443 or 172.30.0.5:8443")
    .requiredOption("--allow <targets>", "comma-separated cloud disk ids, devices or files jobs may write to (e.g. d-bp1abc…,d-bp1def… or /dev/vdb)")
    .option("--disk-by-id <dir>", "where cloud disk ids are looked up: udev's by-id links (default /dev/disk/by-id)")
    .option("--sys-dev-block <dir>", "where a device's serial is read: sysfs block devices by number (default /sys/dev/block)")
    .option("--cert <file>", "PEM certificate (default: self-signed, created on first start)")
    .option("--key <file>", "PEM private key of --cert")
    .option("--token-file <file>", "file holding the bearer token (default: <state>/token, created if missing)")
    .option("--credentials <dir>", "directory of PSK files that jobs name by reference")
    .option("--max-concurrent <n>", "disks copied at once; the others queue", "4")
    .option("--bandwidth <rate>", "total bandwidth cap across jobs, e.g. 200M (bytes/s)")
    .option("--checkpoint-interval <size>", "source bytes between journal checkpoints: what a crash may make a round read again (default 256Mi)")
    .option("--idle-timeout <seconds>", "a source or target server that answers none of the requests in flight for this long fails the round (retried)", "120")
    .action(async (opts: AgentCommandOptions) => {
      const listen = listenAddress(opts.listen, "127.0.0.1:8443");
      const problems: Problem[] = [...listen.problems];
      const allow = opts.allow
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      for (const p of allow) {
        if (!p.startsWith("/") && !isDiskId(p)) {
          problems.push(
            problem({
              field: "--allow",
              received: p,
              expected: "a cloud disk id (d-…) or an absolute path",
              fix: "list disks by id (d-bp1abc…) or devices as /dev/vdb",
              message: `Allowed target ${p} is neither a cloud disk id nor an absolute path.`,
            }),
          );
        }
      }
      if (allow.length === 0)
        problems.push(
          problem({
            field: "--allow",
            received: JSON.stringify(opts.allow),
            expected: "at least one disk, device or file",
            fix: "e.g. --allow d-bp1abc…,d-bp1def…",
            message: "The allow-list is empty.",
          }),
        );
      const maxConcurrent = Number(opts.maxConcurrent);
      if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
        problems.push(
          problem({
            field: "--max-concurrent",
            received: opts.maxConcurrent,
            expected: "a positive integer",
            fix: "e.g. --max-concurrent 4",
            message: "The concurrency limit is not a positive integer.",
          }),
        );
      }
      problems.push(
        ...certificateProblems(opts.cert, opts.key),
        ...pathProblems([
          ["--cert", opts.cert],
          ["--key", opts.key],
          ["--credentials", opts.credentials, "directory"],
          ["--disk-by-id", opts.diskById, "directory"],
          ["--sys-dev-block", opts.sysDevBlock, "directory"],
        ]),
      );
      let bandwidth: number | undefined;
      if (opts.bandwidth !== undefined) {
        try {
          bandwidth = require("../../replication/throttle").parseRate(opts.bandwidth, "--bandwidth");
        } catch (err) {
          if (err instanceof InputError) problems.push(...err.problems);
          else throw err;
        }
      }
      let checkpointInterval: number | undefined;
      if (opts.checkpointInterval !== undefined) {
        try {
          checkpointInterval = require("../../replication/throttle").parseSize(opts.checkpointInterval, "--checkpoint-interval");
        } catch (err) {
          if (err instanceof InputError) problems.push(...err.problems);
          else throw err;
        }
      }
      const idleTimeout = Number(opts.idleTimeout);
      if (!(idleTimeout > 0) || !Number.isFinite(idleTimeout)) {
        problems.push(
          problem({
            field: "--idle-timeout",
            received: String(opts.idleTimeout),
            expected: "a positive number of seconds",
            fix: "e.g. --idle-timeout 120",
            message: "The idle timeout is not a positive number of seconds.",
          }),
        );
      }
      if (problems.length > 0) throw new InputError(problems);

      const { startAgent }: typeof import("../../agent") = require("../../agent");
      const agent = await startAgent({
        stateDir: opts.state,
        host: listen.host,
        port: listen.port,
        allow,
        disks: { byIdDir: opts.diskById, sysDevBlockDir: opts.sysDevBlock },
        certFile: opts.cert,
        keyFile: opts.key,
        tokenFile: opts.tokenFile,
        credentialsDir: opts.credentials,
        maxConcurrent,
        bandwidth,
        tuning: { checkpointInterval, idleTimeoutMs: idleTimeout * 1000 },
      });
      await serveUntilSignal("agent", agent);
    });
}
