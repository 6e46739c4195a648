/**
 * The errors a command ends with, each carrying its exit code (lib/cli/main.ts maps them); bad
 * input is `InputError` (lib/problems, exit 2), raised by the library as by the commands.
 */

/** Raised by commands whose check ran and failed (exit 1), after printing their report. */
export class CheckFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckFailed";
  }
}

/**
 * Raised by a command that has already printed its output and its problems, to end with `code`
 * (2: bad input, e.g. a plan with errors, whose JSON is still printed for CI).
 */
export class ExitWith extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = "ExitWith";
  }
}
