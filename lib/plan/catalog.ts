/**
 * The data the planner sizes with: ECS instance families and sizes, disk categories, the ECS
 * limits it checks, the sync-gateway sizes and the default price table. Plain data, no logic
 * beyond building the size lists; `docs/plan.md` shows the same tables.
 */

/** A family by its memory:vCPU ratio: `c` 1:2 (GiB per vCPU), `g` 1:4, `r` 1:8. */
export type FamilyKind = "c" | "g" | "r";

/** GiB of memory per vCPU of each family kind. */
export const MEMORY_PER_VCPU_GIB: Readonly<Record<FamilyKind, number>> = { c: 2, g: 4, r: 8 };

/** One ECS instance type of the catalog. */
export interface InstanceType {
  /** `ecs.g7.xlarge`. */
  readonly name: string;
  readonly kind: FamilyKind;
  readonly generation: number;
  readonly vcpus: number;
  readonly memoryGiB: number;
}

/**
 * The size names of each generation, smallest first, as ECS names them (a `large` has 2 vCPUs, an
 * `xlarge` 4, an `Nxlarge` 4·N): the 6th generation tops out at 26xlarge, the 7th at 32xlarge,
 * the 8th (Intel `i` variants) at 48xlarge.
 */
const SIZES_BY_GENERATION: Readonly<Record<number, readonly string[]>> = {
  6: ["large", "xlarge", "2xlarge", "3xlarge", "4xlarge", "6xlarge", "8xlarge", "13xlarge", "26xlarge"],
  7: ["large", "xlarge", "2xlarge", "3xlarge", "4xlarge", "6xlarge", "8xlarge", "16xlarge", "32xlarge"],
  8: ["large", "xlarge", "2xlarge", "3xlarge", "4xlarge", "6xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"],
};

/** Family name of a kind in a generation: `g7`, `c6`, `r8i`. */
export function familyName(kind: FamilyKind, generation: number): string {
  return generation >= 8 ? `${kind}${generation}i` : `${kind}${generation}`;
}

/** vCPUs of a size name (`large` 2, `xlarge` 4, `8xlarge` 32). */
export function vcpusOfSize(size: string): number {
  if (size === "large") return 2;
  if (size === "xlarge") return 4;
  const match = /^([0-9]+)xlarge$/.exec(size);
  if (!match) throw new RangeError(`unknown ECS size name ${size}`);
  return Number(match[1]) * 4;
}

/** Generations the catalog knows. */
export const GENERATIONS: readonly number[] = Object.keys(SIZES_BY_GENERATION).map(Number);

/** Every instance type of a generation, smallest first within each family kind. */
export function instanceTypes(generation: number): readonly InstanceType[] {
  return TYPES_BY_GENERATION.get(generation) ?? [];
}

function buildInstanceTypes(generation: number): readonly InstanceType[] {
  const sizes = SIZES_BY_GENERATION[generation];
  if (!sizes) return [];
  const types: InstanceType[] = [];
  for (const kind of ["c", "g", "r"] as const) {
    for (const size of sizes) {
      const vcpus = vcpusOfSize(size);
      types.push({ name: `ecs.${familyName(kind, generation)}.${size}`, kind, generation, vcpus, memoryGiB: vcpus * MEMORY_PER_VCPU_GIB[kind] });
    }
  }
  return types;
}

/** Looks a type up by name across every generation of the catalog. */
export function findInstanceType(name: string): InstanceType | undefined {
  return CATALOG_BY_NAME.get(name);
}

const TYPES_BY_GENERATION: ReadonlyMap<number, readonly InstanceType[]> = new Map(GENERATIONS.map((g) => [g, buildInstanceTypes(g)] as const));

const CATALOG_BY_NAME: ReadonlyMap<string, InstanceType> = new Map(GENERATIONS.flatMap((g) => instanceTypes(g)).map((t) => [t.name, t] as const));

/** A disk category and the sizes ECS allows for it, GiB. */
export interface DiskCategory {
  readonly name: string;
  readonly systemMinGiB: number;
  readonly systemMaxGiB: number;
  readonly dataMinGiB: number;
  readonly dataMaxGiB: number;
}

/**
 * Where the disk sizes come from. The system-disk range is the one documented for
 * `alicloud_instance.system_disk_size` (also in @pulumi/alicloud 3.108.0's `ecs.Instance`
 * `systemDiskSize`): "Value range: [20, 500]"; the data-disk ranges are those of its
 * `data_disks.size`. A larger system-disk maximum per category (Alibaba Cloud's console offers more
 * for ESSDs in some regions) could not be confirmed in a published document here: set
 * `settings.limits.systemDiskMaxGiB` when your region allows more.
 */
export const DISK_LIMITS_SOURCE = "https://registry.terraform.io/providers/aliyun/alicloud/latest/docs/resources/instance (system_disk_size, data_disks.size)";

/** The disk categories rehost plans with (see `DISK_LIMITS_SOURCE`). */
export const DISK_CATEGORIES: Readonly<Record<string, DiskCategory>> = {
  cloud_essd: { name: "cloud_essd", systemMinGiB: 20, systemMaxGiB: 500, dataMinGiB: 20, dataMaxGiB: 32_768 },
  cloud_auto: { name: "cloud_auto", systemMinGiB: 20, systemMaxGiB: 500, dataMinGiB: 1, dataMaxGiB: 65_536 },
  cloud_essd_entry: { name: "cloud_essd_entry", systemMinGiB: 20, systemMaxGiB: 500, dataMinGiB: 10, dataMaxGiB: 32_768 },
  cloud_efficiency: { name: "cloud_efficiency", systemMinGiB: 20, systemMaxGiB: 500, dataMinGiB: 20, dataMaxGiB: 32_768 },
  cloud_ssd: { name: "cloud_ssd", systemMinGiB: 20, systemMaxGiB: 500, dataMinGiB: 20, dataMaxGiB: 32_768 },
};

/** ECS and VPC limits the planner checks. */
export const LIMITS = {
  /** Data disks one ECS instance can attach (the system disk not counted). */
  dataDisksPerInstance: 16,
  /** vSwitches in one VPC. */
  vSwitchesPerVpc: 150,
  /** Prefix lengths a vSwitch CIDR may have. */
  vSwitchPrefix: { min: 16, max: 29 },
  /** Prefix lengths a VPC CIDR block may have. */
  vpcPrefix: { min: 8, max: 28 },
  /** CIDR blocks per VPC rehost plans with: one primary and at most four secondary blocks. */
  vpcCidrBlocks: 5,
} as const;

/**
 * Private IPv4 addresses one ENI of an instance type holds (its primary address included), by
 * type. ECS documents this figure per instance type ("private IPv4 addresses per ENI" in each
 * family's table, `EniPrivateIpAddressQuantity` of DescribeInstanceTypes); no published table of
 * the figures could be consulted here, so the catalog holds none rather than guessing. Give them
 * with `settings.limits.privateIpsPerEni` (one number, or per type); without a figure the planner
 * warns about any NIC carrying more than `UNCONFIRMED_IPS_PER_ENI` addresses.
 */
export const PRIVATE_IPS_PER_ENI: Readonly<Record<string, number>> = {};

/**
 * Addresses per NIC above which the planner asks for the type's figure when it has none
 * (rehost's own threshold, not an ECS limit).
 */
export const UNCONFIRMED_IPS_PER_ENI = 10;

/** Ranges an Alibaba Cloud VPC refuses as CIDR blocks. */
export const FORBIDDEN_VPC_RANGES: readonly string[] = ["100.64.0.0/10", "224.0.0.0/4", "127.0.0.0/8", "169.254.0.0/16"];

/** The private ranges an Alibaba Cloud VPC is usually built from. */
export const PRIVATE_RANGES: readonly string[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/**
 * Sync-gateway sizes by the throughput they carry: the first tier whose `maxMBps` is at least the
 * gateway's throughput is used, as a `c` (compute) type of the configured generation.
 */
export const GATEWAY_TIERS: ReadonlyArray<{ readonly maxMBps: number; readonly size: string }> = [
  { maxMBps: 100, size: "large" },
  { maxMBps: 200, size: "xlarge" },
  { maxMBps: 400, size: "2xlarge" },
  { maxMBps: 800, size: "4xlarge" },
  { maxMBps: 1600, size: "8xlarge" },
];

/**
 * Default price table, CNY, approximating pay-as-you-go list prices in mainland China regions.
 * Every key can be overridden by `settings.prices` in the waves file.
 */
export const DEFAULT_PRICES: Readonly<Record<string, number>> = {
  /** CNY per vCPU-hour of a compute (`c`, 1:2) type. */
  "instance.c.vcpuHour": 0.23,
  /** CNY per vCPU-hour of a general-purpose (`g`, 1:4) type. */
  "instance.g.vcpuHour": 0.31,
  /** CNY per vCPU-hour of a memory (`r`, 1:8) type. */
  "instance.r.vcpuHour": 0.42,
  /** CNY per GiB-month of each disk category. */
  "disk.cloud_essd.gibMonth": 1.0,
  "disk.cloud_auto.gibMonth": 0.7,
  "disk.cloud_essd_entry.gibMonth": 0.5,
  "disk.cloud_efficiency.gibMonth": 0.35,
  "disk.cloud_ssd.gibMonth": 1.0,
  /** Hours the target hosts run for one rehearsal (counted in the sync-gateway scenario). */
  "rehearsal.hours": 24,
};

/** Currency of the price table. */
export const CURRENCY = "CNY";
