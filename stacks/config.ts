/**
 * The stack configuration of the rehost project: every key, its meaning, and its checks. Only
 * `stacks/` reads Pulumi config; components receive plain values.
 *
 * Keys live in the `rehost` namespace (`pulumi config set rehost:role wave`). Paths are relative to
 * the project directory (the one holding `Pulumi.yaml`).
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { InputError, problem, type Problem } from "../lib/problems";
import { problemsFromZod, renderValue } from "../lib/problems/zod";
import { WAVE_PHASES } from "../lib/components/migration-wave";
import { CREDENTIALS } from "../lib/providers/credentials";
import { checkGatewayRuntime } from "../lib/components/gateway-runtime";

/** Roles a stack can play. */
const ROLES = ["landing-zone", "wave", "rehearsal"] as const;
/** A stack's role. */
type Role = (typeof ROLES)[number];

const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, "a CIDR like 192.168.10.0/24");

const HostRuleSchema = z.object({
  protocol: z.enum(["tcp", "udp", "icmp", "all"]),
  ports: z.string(),
  cidr,
  description: z.string().optional(),
});
const HostGroupsSchema = z.array(z.object({ name: z.string(), rules: z.array(HostRuleSchema) }));

const CommonSchema = z.object({
  role: z.enum(ROLES),
  /** Inventory file (YAML/JSON, RVTools directory or workbook). */
  inventory: z.string().min(1),
  /** Networks file (portgroup → CIDR) merged into the inventory. */
  networks: z.string().min(1).optional(),
  /** Waves file. */
  waves: z.string().min(1),
  /** Security groups of migrated hosts; the default admits only traffic from inside the VPC. */
  hostSecurityGroups: HostGroupsSchema.optional(),
});

const LinkSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("vbr"),
    physicalConnectionId: z.string().min(1),
    vlanId: z.number().int().min(0).max(2999),
    localGatewayIp: z.string(),
    peerGatewayIp: z.string(),
    peeringSubnetMask: z.string(),
    bandwidthMbps: z.number().positive().optional(),
  }),
  z.object({
    kind: z.literal("vpn"),
    customerGatewayIp: z.string(),
    asn: z.string().optional(),
    bandwidthMbps: z.number().positive().optional(),
  }),
]);

const LandingZoneSchema = CommonSchema.extend({
  role: z.literal("landing-zone"),
  /** The on-prem side of the CEN link. For `vpn`, the IKE key is the secret `rehost:linkPsk`. */
  link: LinkSchema,
  /** The only source allowed to call the sync gateways' agent API. */
  operatorCidr: cidr,
  /** The on-prem NBD proxy: the only source allowed on the gateways' NBD port. */
  sourceProxyCidr: cidr,
  /** Waves that have cut over: their subnets are advertised to on-prem. */
  cutOverWaves: z.array(z.string()).default([]),
  agentPort: z.number().int().min(1).max(65535).optional(),
});

/** How gateways get Node.js: see `GatewayRuntime` (lib/components/gateway-runtime.ts). */
const GatewayRuntimeSchema = z
  .object({
    manager: z.enum(["dnf", "apt", "none"]),
    modules: z.array(z.string()).optional(),
    packages: z.record(z.string(), z.string()).default({}),
    node: z.string().optional(),
  })
  .strict();

const WaveStackSchema = CommonSchema.extend({
  role: z.literal("wave"),
  /** The wave of the plan this stack migrates. */
  wave: z.string().min(1),
  /** The landing-zone stack (`landing-zone` or `org/rehost/landing-zone`). */
  landingZoneStack: z.string().min(1),
  /** `sync` (gateways + replication) or `cutover` (final round, verify, hosts). */
  phase: z.enum(WAVE_PHASES as [string, ...string[]]).default("sync"),
  /** NBD URI of the on-prem proxy (`nbds://10.30.9.10:10809`); each disk is the export named by its id. */
  sourceNbd: z.string().regex(/^nbds?(\+unix)?:\/\//, "an nbd:// or nbds:// URI of the source proxy"),
  /** PSK file name in the agent's credentials directory for `nbds://`. @default - none */
  sourceCredentials: z.string().min(1).optional(),
  /** `true` once an operator has shut the source VMs down, when no vSphere client is configured. */
  manualConfirmation: z.boolean().default(false),
  /** Replication round; raise it to run an incremental round. */
  round: z.number().int().min(1).default(1),
  /** Image of the sync gateways. */
  gatewayImageId: z.string().min(1).default("aliyun_3_x64_20G_alibase_20240819.vhd"),
  /** Node.js (and certtool) on the gateways: exact versions from the image's package mirror, or a runtime on the image. */
  gatewayRuntime: GatewayRuntimeSchema,
  /** OSS bucket for the agent bundle. @default - `rehost-<account id>-<wave>-agent` */
  artifactBucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "an OSS bucket name: 3-63 lowercase letters, digits and dashes")
    .optional(),
  /** Most disks per gateway. @default - the waves file's `settings.gateway.maxDisks`, which the planner packed with */
  maxDisksPerGateway: z.number().int().min(1).max(64).optional(),
  agentPort: z.number().int().min(1).max(65535).optional(),
});

const RehearsalSchema = CommonSchema.extend({
  role: z.literal("rehearsal"),
  wave: z.string().min(1),
  /** The wave stack whose replicas this rehearsal boots. */
  waveStack: z.string().min(1),
  /** Rehearsal number, 1-based. */
  rehearsal: z.number().int().min(1),
  /** An optional jump host (`imageId`, `cidr`, `zone`, `operatorCidr`, `instanceType`). */
  bastion: z
    .object({
      imageId: z.string(),
      cidr,
      zone: z.string(),
      operatorCidr: cidr,
      instanceType: z.string().optional(),
      bandwidthMbps: z.number().positive().optional(),
    })
    .optional(),
});

/** Checked config of a landing-zone stack. */
export type LandingZoneConfig = z.infer<typeof LandingZoneSchema>;
/** Checked config of a wave stack. */
export type WaveStackConfig = z.infer<typeof WaveStackSchema> & { phase: "sync" | "cutover" };
/** Checked config of a rehearsal stack. */
export type RehearsalConfig = z.infer<typeof RehearsalSchema>;
/** Checked config of any stack, by role. */
export type StackConfig = LandingZoneConfig | WaveStackConfig | RehearsalConfig;

const KEYS = [
  "role",
  "inventory",
  "networks",
  "waves",
  "hostSecurityGroups",
  "link",
  "operatorCidr",
  "sourceProxyCidr",
  "cutOverWaves",
  "agentPort",
  "wave",
  "landingZoneStack",
  "phase",
  "round",
  "sourceNbd",
  "sourceCredentials",
  "manualConfirmation",
  "gatewayImageId",
  "gatewayRuntime",
  "artifactBucket",
  "maxDisksPerGateway",
  "waveStack",
  "rehearsal",
  "bastion",
] as const;

/**
 * Keys the dynamic providers read from the stack's configuration (agent and vCenter credentials,
 * see lib/providers/credentials.ts); the program itself does not use them.
 */
const PROVIDER_KEYS = Object.values(CREDENTIALS).map((c) => c.config.slice("rehost:".length));

/**
 * Set by `rehost preview`, which cannot decrypt secrets: a secret the stack's file does not hold is
 * then shown as a placeholder instead of being reported missing.
 */
const OFFLINE_PREVIEW_KEY = "offlinePreview";

/** Placeholder of a secret the offline preview does not have. */
const SECRET_PLACEHOLDER = "offline-preview-placeholder";

/** Secret keys per role (the rehearsal's agent token is for its RehearsalPoint provider). */
const SECRET_KEYS: Readonly<Record<Role, readonly string[]>> = {
  "landing-zone": [],
  wave: ["agentToken", "agentPsk"],
  rehearsal: ["agentToken"],
};

/** The file a stack's config is in, for messages. */
export function stackFile(): string {
  return `stacks/Pulumi.${pulumi.getStack()}.yaml`;
}

/**
 * Reads and checks this stack's `rehost:*` config. Every mistake becomes one problem naming the
 * key (`rehost:wave`), what was received and what was expected.
 * @throws InputError
 */
export function readStackConfig(): StackConfig {
  const config = new pulumi.Config("rehost");
  const raw: Record<string, unknown> = {};
  for (const key of KEYS) {
    const text = config.get(key);
    if (text === undefined) continue;
    raw[key] = parseValue(text);
  }
  const file = stackFile();
  const role = raw.role;
  if (!ROLES.includes(role as Role)) {
    throw new InputError(
      problem({
        file,
        field: "rehost:role",
        received: renderValue(role),
        expected: ROLES.join(" | "),
        fix: "pulumi config set rehost:role <landing-zone|wave|rehearsal>",
        message: role === undefined ? "The stack has no role." : `The stack's role ${renderValue(role)} is unknown.`,
      }),
    );
  }
  const schema = role === "landing-zone" ? LandingZoneSchema : role === "wave" ? WaveStackSchema : RehearsalSchema;
  const parsed = schema.safeParse(raw);
  const problems: Problem[] = [];
  // A misspelt key would otherwise be ignored silently.
  const known = new Set<string>([...KEYS, ...PROVIDER_KEYS, ...Object.values(SECRET_KEYS).flat(), "linkPsk", OFFLINE_PREVIEW_KEY]);
  for (const full of Object.keys(pulumi.runtime.allConfig())) {
    const [namespace, key] = full.split(":", 2);
    if (namespace !== "rehost" || key === undefined || known.has(key)) continue;
    problems.push(
      problem({
        file,
        field: full,
        received: renderValue(config.get(key)),
        expected: "a key listed in docs/stacks.md",
        fix: `pulumi config rm ${full}, or correct its name`,
        message: `Config key ${full} is unknown.`,
      }),
    );
  }
  if (!parsed.success) {
    // One converter names the field, the value received and what was expected; the fix is pulumi's.
    for (const p of problemsFromZod(parsed.error, { file, input: raw })) {
      const key = `rehost:${p.field ?? ""}`;
      const missing = p.received === renderValue(undefined);
      problems.push({
        ...p,
        field: key,
        fix: `pulumi config set ${key.split(/[.[]/)[0]} <value>${missing ? " (the key is required for this role)" : ""}`,
        message: missing ? `The ${role} stack needs ${key}.` : `Config ${key} is not valid: ${p.message}.`,
      });
    }
  }
  if (parsed.success && parsed.data.role === "wave") {
    for (const p of checkGatewayRuntime(parsed.data.gatewayRuntime, "rehost:gatewayRuntime")) {
      problems.push({ ...p, file, fix: p.fix ?? "pulumi config set --path rehost:gatewayRuntime… (docs/stacks.md)" });
    }
  }
  for (const secret of SECRET_KEYS[role as Role]) {
    if (config.get(secret) === undefined && !offlinePreview()) {
      problems.push(
        problem({
          file,
          field: `rehost:${secret}`,
          received: "nothing (the key is missing)",
          expected: "a secret",
          fix: `pulumi config set --secret rehost:${secret} <value>`,
          message: `The ${role} stack needs the secret rehost:${secret}.`,
        }),
      );
    }
  }
  if (problems.length > 0) throw new InputError(problems);
  return parsed.data as StackConfig;
}

/** Whether `rehost preview` runs the program (see {@link OFFLINE_PREVIEW_KEY}). */
export function offlinePreview(): boolean {
  return new pulumi.Config("rehost").get(OFFLINE_PREVIEW_KEY) === "true";
}

/** A secret config value of the `rehost` namespace (a placeholder in the offline preview when absent). */
export function secretConfig(key: string): pulumi.Output<string> {
  const config = new pulumi.Config("rehost");
  const value = config.getSecret(key);
  if (value === undefined && offlinePreview()) return pulumi.secret(SECRET_PLACEHOLDER);
  return value ?? config.requireSecret(key);
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
