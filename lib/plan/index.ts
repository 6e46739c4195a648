/**
 * The pure planner: inventory + waves file → migration plan (subnets, pinned IPs, sizing, gateway
 * packing, estimates). No Pulumi, no I/O. The CIDR maths and the validators exported here are the
 * only copies in rehost: the CLI, the components and the policy pack import them from here.
 */
export { buildPlan, type BuildPlanOptions, type PlanSources } from "./build";
export { freeAddress } from "./vms";
export { planVpcBlocks, vSwitchName } from "./network";
export * from "./catalog";
export * from "../net";
export * from "./membership";
export * from "./packing";
export * from "./sizing";
export * from "./types";
export * from "./validate";
export { ganttChart, networkChart, renderJson, renderMarkdown, renderTable, scheduleStart, type MarkdownOptions, type TableOptions } from "./render";
