/**
 * The lab: the whole migration lifecycle of the `examples/lab` estate on this machine, in the
 * shape of a real migration (see run.ts).
 */
export { runLab } from "./run";
