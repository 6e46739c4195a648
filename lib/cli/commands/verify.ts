/**
 * `rehost verify SRC DST`: digests both disks (the documented `sha256-blocks-1MiB`, see
 * docs/replication.md) and exits 0 when they are equal, 1 when they differ.
 */
import type { Command } from "commander";
import { CheckFailed } from "../errors";
import { progressView } from "./sync";

export function register(program: Command): void {
  program
    .command("verify")
    .description("Compare the digests of two disks (NBD URIs or local paths); exit 1 when they differ.")
    .argument("<source>", "source disk: NBD URI or local path")
    .argument("<target>", "target disk: NBD URI or local path (digested over the source's size)")
    .option("--json", "newline-delimited JSON events on stdout; the last line is the result")
    .action(async (source: string, target: string, flags: { json?: boolean }) => {
      // The data plane loads only when the command runs.
      const { verify }: typeof import("../../replication/verify") = require("../../replication/verify");
      const view = progressView(flags.json === true);
      let result;
      try {
        result = await verify(source, target, { onProgress: view.update });
      } finally {
        view.stop();
      }
      if (flags.json === true) {
        process.stdout.write(
          `${JSON.stringify({ event: "done", source: { spec: source, ...result.source }, target: { spec: target, ...result.target, diskSize: result.targetSize }, equal: result.equal, reason: result.reason })}\n`,
        );
      } else {
        process.stdout.write(`${result.source.algorithm} ${result.source.digest}  ${source} (${result.source.size} bytes)\n`);
        process.stdout.write(`${result.target.algorithm} ${result.target.digest}  ${target} (${result.target.size} of ${result.targetSize} bytes)\n`);
        process.stdout.write(result.equal ? "equal\n" : `different: ${result.reason}\n`);
      }
      if (!result.equal) throw new CheckFailed(`${source} and ${target} differ: ${result.reason}`);
    });
}
