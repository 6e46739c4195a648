/**
 * The lab: the whole migration lifecycle of the `examples/lab` estate on this machine.
 */
export { runLab, type LabOptions } from "./run";
export { renderMarkdown, renderTerminal, roundTotals, type DiskReport, type LabReport, type RoundReport } from "./report";
export { ProcessGroup, startQemuNbd, unixUri, type Owned, type QemuNbdOptions } from "./processes";
export { buildDiskImage, rotateBitmap, writeMbr, createTargetDisk, type DiskImageSpec } from "./images";
export { BusinessWriter } from "./business";
