/**
 * What an adaptation reports, for Linux and Windows guests alike: the changes made, the kernels
 * and their drivers, and the verdict the rehearsal sign-off reads.
 */
import type { DetectedOs } from "./detect";
import type { DeviceRewrite } from "./devices";
import type { ModuleState, VirtioModule } from "./initramfs";
import type { DetectedWindows } from "./windows/detect";
import type { WindowsAdaptation } from "./windows/report";

/** One change made in the guest. */
export interface GuestChange {
  readonly area: "initramfs" | "fstab" | "bootloader" | "network" | "vmware-tools" | "cloud-init" | "selinux" | "drivers" | "registry" | "firstboot";
  readonly action: "write" | "move" | "remove" | "run";
  readonly path: string;
  /** What changed, for a person. */
  readonly detail: string;
  /** Where the original was kept, for `write`, `move` and `remove`. */
  readonly backup?: string;
}

/** The drivers of one installed kernel after the adaptation. */
export interface KernelReport {
  readonly version: string;
  readonly initramfs: string;
  readonly modules: Readonly<Record<VirtioModule, ModuleState>>;
  /** True when the initramfs was rebuilt. */
  readonly rebuilt: boolean;
}

/** What the adaptation found and changed on one disk: the rehearsal sign-off reads it. */
export interface AdaptReport {
  readonly disk: string;
  /** The Linux distribution, or the Windows version (`family: "windows"`). */
  readonly os: DetectedOs | DetectedWindows;
  /** Linux kernels and their virtio drivers; `[]` for Windows. */
  readonly kernels: readonly KernelReport[];
  readonly changes: readonly GuestChange[];
  /** Device references rewritten to UUIDs (fstab and boot loader). */
  readonly rewrites: readonly DeviceRewrite[];
  /** Things a person must look at; the guest may still boot. */
  readonly warnings: readonly string[];
  /** False when some kernel still lacks a virtio driver or no kernel was found: it will not boot on ECS. */
  readonly ok: boolean;
  readonly durationMs: number;
  /** Windows only: drivers staged, services registered, first-boot script. */
  readonly windows?: WindowsAdaptation;
}
