/**
 * The waves file: which VMs move together, in what order, in which change window, with which
 * per-VM overrides, plus the settings the planner needs (region, zones, ranges, link, prices).
 */
import { z } from "zod";

export const VmOverrideSchema = z.object({
  /** ECS instance type instead of the sized one (`ecs.g7.large`). */
  instanceType: z.string().optional(),
  /** Disk category for every disk of the VM (`cloud_essd`, `cloud_auto`, `cloud_efficiency`). */
  diskCategory: z.string().optional(),
  /** `false` lets the VM take a new address where its IP cannot be kept; the default is to keep it. */
  keepIp: z.boolean().optional(),
});

const EMPTY_MEMBERS = {
  vms: [],
  names: [],
  folders: [],
  tags: [],
  clusters: [],
  hosts: [],
  datastores: [],
  resourcePools: [],
  annotations: [],
  attributes: {},
  rest: false,
};

export const WaveSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "lowercase letters, digits and dashes"),
  /**
   * Who moves in the wave: every VM matching any selector. `vms` are exact names; the other
   * lists take globs (`szx-web-*`) or `/regular expressions/`, matched without regard to case.
   */
  members: z
    .object({
      vms: z.array(z.string()).default([]),
      /** VM names by glob or regular expression. */
      names: z.array(z.string()).default([]),
      folders: z.array(z.string()).default([]),
      tags: z.array(z.string()).default([]),
      clusters: z.array(z.string()).default([]),
      hosts: z.array(z.string()).default([]),
      /** VMs with a disk on a matching datastore. */
      datastores: z.array(z.string()).default([]),
      resourcePools: z.array(z.string()).default([]),
      /** Patterns matched against the VM's annotation (notes). */
      annotations: z.array(z.string()).default([]),
      /** Custom attribute name → pattern its value must match. */
      attributes: z.record(z.string(), z.string()).default({}),
      /** Every VM of the inventory that no other wave selects (at most one wave). */
      rest: z.boolean().default(false),
    })
    .default(EMPTY_MEMBERS),
  /** Waves that must cut over before this one. */
  after: z.array(z.string()).default([]),
  /** Change window for the cutover, ISO 8601 timestamps with offset. */
  window: z.object({ start: z.string(), end: z.string() }).optional(),
  /** Planned rehearsals before cutover. @default 3 (the case study's three) */
  rehearsals: z.number().int().min(0).default(3),
  overrides: z.record(z.string(), VmOverrideSchema).default({}),
});

export const SettingsSchema = z.object({
  /** Alibaba Cloud region, e.g. `cn-shenzhen`. */
  region: z.string().default("cn-shenzhen"),
  /** Zones vSwitches are spread over (the first is the default). */
  zones: z.array(z.string()).min(1).default(["cn-shenzhen-e"]),
  /** On-prem ranges the sync subnet and the VPC must not collide with (besides the source subnets). */
  onPremRanges: z.array(z.string()).default([]),
  sync: z
    .object({
      /** Pool the per-wave sync subnets are carved from (Alibaba VPCs refuse 100.64.0.0/10). */
      pool: z.string().default("172.30.0.0/16"),
      /** Prefix length of each wave's sync subnet. */
      prefix: z.number().int().min(16).max(29).default(27),
      /** Explicit sync subnets per wave name; override the pool. */
      subnets: z.record(z.string(), z.string()).default({}),
    })
    .default({ pool: "172.30.0.0/16", prefix: 27, subnets: {} }),
  link: z
    .object({
      /** On-prem to cloud link bandwidth in Mbit/s. */
      bandwidthMbps: z.number().positive().default(1000),
      /** Share of the link replication really gets (protocol overhead, business traffic). */
      efficiency: z.number().gt(0).max(1).default(0.7),
    })
    .default({ bandwidthMbps: 1000, efficiency: 0.7 }),
  /** Share of a disk's allocated bytes that changes per day. */
  dailyChangeRate: z.number().min(0).max(1).default(0.02),
  gateway: z
    .object({
      maxDisks: z.number().int().min(1).max(64).default(16),
      /** Largest total capacity one gateway carries, bytes. */
      maxBytes: z
        .number()
        .positive()
        .default(32 * 2 ** 40),
      /** Throughput one gateway is sized for at most, MB/s. */
      maxThroughputMBps: z.number().positive().default(400),
    })
    .default({ maxDisks: 16, maxBytes: 32 * 2 ** 40, maxThroughputMBps: 400 }),
  sizing: z
    .object({
      /** Instance family generation the catalog picks from. */
      generation: z.number().int().default(7),
      /** Default disk category. */
      diskCategory: z.string().default("cloud_essd"),
    })
    .default({ generation: 7, diskCategory: "cloud_essd" }),
  /** Days the migration period lasts, for the cost comparison. @default 60 (two months, as in the case study) */
  migrationDays: z.number().positive().default(60),
  /** Price table overrides (see lib/plan's defaults for the keys). */
  prices: z.record(z.string(), z.number()).default({}),
  /**
   * ECS limits of your account and region where they differ from the catalog's documented ones
   * (see docs/plan.md "The catalog"): the largest system disk, and private IPv4 addresses per ENI
   * (one number for every type, or per instance type).
   */
  limits: z
    .object({
      systemDiskMaxGiB: z.number().int().positive().optional(),
      privateIpsPerEni: z.union([z.number().int().positive(), z.record(z.string(), z.number().int().positive())]).optional(),
    })
    .default({}),
});

export const WavesFileSchema = z.object({
  settings: SettingsSchema.default(SettingsSchema.parse({})),
  waves: z.array(WaveSchema).min(1),
});

export type VmOverride = z.infer<typeof VmOverrideSchema>;
export type Wave = z.infer<typeof WaveSchema>;
export type Settings = z.infer<typeof SettingsSchema>;
export type WavesFile = z.infer<typeof WavesFileSchema>;
