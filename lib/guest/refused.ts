/**
 * A guest rehost will not adapt, found before anything was written: the disk is as it was.
 * The CLI prints the problems and exits 1 (the check ran and said no), unlike bad options (2).
 */
import { formatProblem, problem, type Problem } from "../problems";

/** Why a disk was refused. */
export type RefusalReason =
  /** A volume is BitLocker-encrypted: no files can be read, and Windows would ask for the recovery key on ECS. */
  | "bitlocker"
  /** A Windows dynamic disk (LDM): its volumes are not partitions. */
  | "dynamic-disk"
  /** The SYSTEM or SOFTWARE hive is missing or not a hive. */
  | "missing-hive"
  /** The virtio-win set has no drivers for the guest's version. */
  | "no-drivers"
  /** A Windows version rehost does not adapt. */
  | "unsupported-version"
  /** Windows was hibernated or left its filesystem in use (Fast Startup): it cannot be written safely. */
  | "hibernated";

export class GuestRefused extends Error {
  readonly problems: readonly Problem[];

  constructor(
    readonly disk: string,
    readonly reason: RefusalReason,
    fields: Omit<Problem, "severity" | "file">,
  ) {
    const p = problem({ file: disk, ...fields });
    super(formatProblem(p));
    this.name = "GuestRefused";
    this.problems = [p];
  }
}
