/**
 * The lab: the whole migration lifecycle of the `examples/lab` estate on this machine, in the
 * shape of a real migration (see run.ts).
 */
export { runLab } from "./run";
export type { LabOptions } from "./setup";
export { renderMarkdown, renderTerminal, type DiskReport, type LabCutover, type LabReport, type LabRound } from "./report";
export { ProcessGroup, startQemuNbd, unixUri, type Owned, type QemuNbdOptions } from "./processes";
export { buildDiskImage, writeMbr, createTargetDisk, type DiskImageSpec } from "./images";
export { BusinessWriter, type GuestWrite } from "./business";
export { startVcsim, vcsimBinary, guestRead, guestWrite, resetCbt, type EstateSpec, type Vcsim, type VcsimOptions } from "./vcsim";
export { openSite, type LabSite, type LabSide } from "./site";
