/**
 * The `rehost` command. Each subcommand lives in `commands/<name>.ts` and exports `register`.
 *
 * Exit codes: 0 success; 1 a check failed (digests differ, a mandatory policy failed);
 * 2 bad input (every problem printed, nothing written); 3 an unexpected failure.
 */
import { Command, CommanderError } from "commander";
import { packageVersion } from "../service/package";
import { InputError } from "../problems";
import { CheckFailed, ExitWith } from "./errors";
import { writeProblems } from "./report";
import { register as registerPlan } from "./commands/plan";
import { register as registerPreview } from "./commands/preview";
import { register as registerAgent } from "./commands/agent";
import { register as registerProxy } from "./commands/proxy";
import { register as registerStatus } from "./commands/status";
import { register as registerSync } from "./commands/sync";
import { register as registerVerify } from "./commands/verify";
import { register as registerInventory } from "./commands/inventory";
import { register as registerLab } from "./commands/lab";
import { register as registerAdapt } from "./commands/adapt";

/** The exit codes, as every command's help shows them. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  a check ran and failed (digests differ, a mandatory policy failed)
  2  bad input: every problem is printed (rehost plan still prints the plan, with its blocked VMs)
  3  an unexpected failure (REHOST_DEBUG=1 prints its stack)`;

/** One or two typical invocations per command, shown at the end of its --help. */
const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  preview: ["rehost preview --stack wave-1 --md", "rehost preview --stack wave-1-cutover --at 2026-03-07T01:00:00+08:00 --json"],
  agent: ["rehost agent --state /var/lib/rehost --listen 172.30.0.5:8443 --allow /dev/vdb,/dev/vdc"],
  sync: [
    "rehost sync nbds://rehost@proxy:10809/web-01-disk-2000?tls-psk-file=keys.psk /dev/vdb --journal web-01.journal",
    "rehost sync nbd+unix:///web-01?socket=/run/web-01.sock /dev/vdb --changed bitmap:rehost-1 --bandwidth 200M --json",
  ],
  verify: ["rehost verify nbd+unix:///web-01?socket=/run/web-01.sock /dev/vdb     # exit 0 equal, 1 different"],
  status: [
    "rehost status --proxy https://10.0.0.5:8444 --token-file proxy-token --fingerprint AB:CD:… --plan plan.json --watch",
    "rehost status --json | jq '.waves[].vms[].disks[] | {job, recoveryPointAgeSeconds, rateBytesPerSecond}'",
  ],
  lab: ["rehost lab", "rehost lab --wave lab --keep --json > lab.json"],
  adapt: ["rehost adapt clone.raw --plan plan.json --vm app-01 --cloud-init --json"],
};

export function buildProgram(): Command {
  const program = new Command("rehost")
    .description("Migrate VMware vSphere VMs to Alibaba Cloud ECS wave by wave, keeping every IP address.")
    .version(packageVersion())
    .showHelpAfterError()
    .exitOverride()
    .addHelpText("after", EXIT_CODES_HELP);
  for (const register of commandRegistrations()) register(program);
  for (const command of program.commands) {
    // Required options say so in --help (commander lists them like the others).
    for (const option of command.options) {
      if (option.mandatory && !option.description.endsWith("(required)")) option.description = `${option.description} (required)`;
    }
    const examples = EXAMPLES[command.name()];
    if (examples !== undefined) command.addHelpText("after", `\nExamples:\n${examples.map((e) => `  ${e}`).join("\n")}`);
    command.addHelpText("after", EXIT_CODES_HELP);
  }
  return program;
}

/**
 * Each command module, in the order `rehost --help` lists them (add a static import above and a
 * name here). Command modules stay light: what their action needs (Pulumi, the data plane) is
 * loaded inside the action.
 */
function commandRegistrations(): Array<(program: Command) => void> {
  return [
    registerPlan,
    registerPreview,
    registerAgent,
    registerProxy,
    registerStatus,
    registerSync,
    registerVerify,
    registerInventory,
    registerLab,
    registerAdapt,
  ];
}

/**
 * A reader that goes away early (`rehost plan --format json | head -1`) closes the pipe: what is
 * left to write is dropped instead of failing with EPIPE, and the exit code stays the command's.
 */
function ignoreClosedPipe(stream: NodeJS.WriteStream): void {
  if (stream.listenerCount("error") > 0 && (stream as { rehostPipeGuard?: boolean }).rehostPipeGuard) return;
  (stream as { rehostPipeGuard?: boolean }).rehostPipeGuard = true;
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") {
      stream.destroy();
      return;
    }
    throw err;
  });
}

export async function main(argv: readonly string[]): Promise<void> {
  ignoreClosedPipe(process.stdout);
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end with code 0; usage errors are bad input.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof ExitWith) return err.code;
  if (err instanceof InputError) {
    writeProblems(process.stderr, err.problems);
    return 2;
  }
  if (err instanceof CheckFailed) {
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  process.stderr.write(`rehost: ${describeFailure(err)}\n`);
  return 3;
}

/**
 * One line for a failure of something rehost talks to (an NBD server, a file system, vCenter:
 * errors carrying a code), the stack only for a fault of rehost itself or with REHOST_DEBUG=1.
 */
function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const external = err.name === "NbdError" || err.name === "VSphereFault" || typeof (err as NodeJS.ErrnoException).code === "string";
  if (process.env.REHOST_DEBUG === "1" || !external) return err.stack ?? err.message;
  return err.message;
}
