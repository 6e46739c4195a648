/** The Windows part of an adaptation report: the drivers staged, services registered and first-boot script written. */
import type { DeviceBinding } from "./registrations";

/** A driver staged on the disk. */
export interface StagedDriver {
  readonly name: string;
  /** Its directory in the virtio-win set (`viostor/2k19/amd64`). */
  readonly source: string;
  /** The guest files written. */
  readonly files: readonly string[];
  /** True for the storage drivers registered as boot-start services. */
  readonly bootStart: boolean;
}

/** The Windows part of the report. */
export interface WindowsAdaptation {
  readonly virtioWin: string;
  readonly release: string;
  readonly drivers: readonly StagedDriver[];
  /** Boot-start services and the control sets they are registered in. */
  readonly services: ReadonlyArray<{ readonly name: string; readonly start: number; readonly controlSets: readonly string[] }>;
  readonly deviceBinding: DeviceBinding;
  readonly firstBoot: {
    readonly service: string;
    /** `rhsrvany.exe`, `pvvxsvc.exe` or `cmd`. */
    readonly launcher: string;
    /** The script, as Windows names it. */
    readonly script: string;
    /** The log the rehearsal sign-off reads. */
    readonly log: string;
    readonly actions: readonly string[];
  };
  readonly vmwareTools: ReadonlyArray<{ readonly displayName: string; readonly version: string; readonly productCode: string }>;
  readonly hives: ReadonlyArray<{ readonly name: string; readonly path: string; readonly backup: string; readonly dirty: boolean }>;
}
