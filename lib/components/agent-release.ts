/**
 * `AgentRelease`: the agent bundle of one wave in a private OSS bucket of the region, and the RAM
 * role its sync gateways read it with. The gateways have no route to the internet: they fetch
 * the bundle from the bucket's internal endpoint (`oss-<region>-internal.aliyuncs.com`) with
 * the temporary credentials the metadata service gives the instance for this role, and install
 * it only when its SHA-256 is the one recorded here (`gateway-bootstrap.ts`).
 */
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { InputError, problem } from "../problems";
import type { GatewayBundleSource } from "./gateway-bootstrap";
import { COMPONENT_TYPES, TAGS, TAG_ROLES } from "./tokens";

/** A bundle built by `buildAgentBundle` (only these fields are needed). */
export interface AgentBundleRef {
  /** The bundle file on the machine running the stack. */
  readonly file: string;
  /** SHA-256 (hex) of the file. */
  readonly sha256: string;
  /** rehost's version inside. */
  readonly version: string;
}

/** Arguments of {@link AgentRelease}. */
export interface AgentReleaseArgs {
  readonly bundle: AgentBundleRef;
  /** Region of the bucket and the gateways (`cn-shenzhen`): its internal OSS endpoint is what gateways reach. */
  readonly region: string;
  /**
   * Name of the bucket (OSS bucket names are unique across all accounts).
   * @default - `rehost-<account id>-<name>`
   */
  readonly bucketName?: pulumi.Input<string>;
  /** Tags for the bucket, its object and the role. @default - none */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * The bundle in OSS and the gateways' RAM role. Children: `${name}-bucket`,
 * `${name}-public-access`, `${name}-bundle`, `${name}-role`, `${name}-policy`,
 * `${name}-policy-attachment`.
 */
export class AgentRelease extends pulumi.ComponentResource {
  public readonly bucket: pulumi.Output<string>;
  /** Object key of the bundle: `rehost/agent/<version>/<sha256>.tgz`. */
  public readonly key: pulumi.Output<string>;
  /** `https://<bucket>.oss-<region>-internal.aliyuncs.com`. */
  public readonly endpoint: pulumi.Output<string>;
  public readonly sha256: pulumi.Output<string>;
  /** The RAM role gateways get (attach it with `ecs.RamRoleAttachment`). */
  public readonly roleName: pulumi.Output<string>;
  /** Where and how a gateway fetches the bundle (`gatewayUserData`'s `bundle`). */
  public readonly source: pulumi.Output<GatewayBundleSource>;

  constructor(name: string, args: AgentReleaseArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(COMPONENT_TYPES.AgentRelease, name, {}, opts);
    const built = declareAgentRelease(this, name, args);
    this.bucket = built.bucket.bucket;
    this.key = built.object.key;
    this.endpoint = built.endpoint;
    this.sha256 = pulumi.output(args.bundle.sha256);
    this.roleName = built.attachment.roleName;
    this.source = pulumi.all([this.endpoint, this.bucket, this.key, this.roleName]).apply(([endpoint, bucket, key, ramRole]) => ({
      endpoint,
      bucket,
      key,
      sha256: args.bundle.sha256,
      version: args.bundle.version,
      ramRole,
    }));
    this.registerOutputs({ bucket: this.bucket, key: this.key, endpoint: this.endpoint, sha256: this.sha256, roleName: this.roleName, source: this.source });
  }
}

/** `rehost-<account>-<name>` within OSS's 3–63 lowercase letters, digits and dashes (a hash keeps a cut name unique). */
export function defaultBucketName(accountId: string | undefined, name: string): string {
  const base = ["rehost", accountId, name]
    .filter((p): p is string => p !== undefined && p !== "")
    .join("-")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  if (base.length <= 63) return base;
  const hash = crypto.createHash("sha256").update(base).digest("hex").slice(0, 8);
  return `${base.slice(0, 54).replace(/-$/, "")}-${hash}`;
}

/** RAM names (roles, policies): letters, digits, dots and dashes, at most 64. */
function ramName(name: string, suffix: string): string {
  const base = `rehost-${name}`.replace(/[^A-Za-z0-9.-]+/g, "-");
  const room = 64 - suffix.length - 1;
  return `${base.length <= room ? base : `${base.slice(0, room - 9)}-${crypto.createHash("sha256").update(base).digest("hex").slice(0, 8)}`}-${suffix}`;
}

function declareAgentRelease(parent: AgentRelease, name: string, args: AgentReleaseArgs) {
  if (!/^[0-9a-f]{64}$/.test(args.bundle.sha256)) {
    throw new InputError(
      problem({
        field: "bundle.sha256",
        received: args.bundle.sha256,
        expected: "64 hex digits",
        fix: "pass the result of buildAgentBundle",
        message: `The agent bundle of ${name} has no SHA-256.`,
      }),
    );
  }
  if (!/^[a-z]{2,}-[a-z0-9-]+$/.test(args.region)) {
    throw new InputError(
      problem({
        field: "region",
        received: args.region,
        expected: "a region id like cn-shenzhen",
        message: `Release ${name} needs the region its gateways run in.`,
      }),
    );
  }
  const tags = { ...(args.tags ?? {}), [TAGS.role]: TAG_ROLES.agentRelease };
  const bucketName =
    args.bucketName ??
    alicloud
      .getCallerIdentityOutput({ parent })
      .apply((identity) => defaultBucketName((identity as Partial<alicloud.GetCallerIdentityResult>).accountId, name));
  const bucket = new alicloud.oss.Bucket(
    `${name}-bucket`,
    {
      bucket: bucketName,
      storageClass: "Standard",
      serverSideEncryptionRule: { sseAlgorithm: "AES256" },
      // The bucket holds only bundles this stack uploaded: it goes with the stack.
      forceDestroy: true,
      tags,
    },
    { parent },
  );
  new alicloud.oss.BucketPublicAccessBlock(`${name}-public-access`, { bucket: bucket.bucket, blockPublicAccess: true }, { parent });
  const object = new alicloud.oss.BucketObject(
    `${name}-bundle`,
    {
      bucket: bucket.bucket,
      key: `rehost/agent/${args.bundle.version}/${args.bundle.sha256}.tgz`,
      source: args.bundle.file,
      contentType: "application/gzip",
      acl: "private",
      serverSideEncryption: "AES256",
    },
    // A replacement under the same key must not end with the new object deleted.
    { parent, deleteBeforeReplace: true },
  );
  const role = new alicloud.ram.Role(
    `${name}-role`,
    {
      roleName: ramName(name, "gateway"),
      description: `rehost sync gateways of ${name}: read the agent bundle`,
      assumeRolePolicyDocument: JSON.stringify({
        Version: "1",
        Statement: [{ Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: ["ecs.aliyuncs.com"] } }],
      }),
      force: true,
      tags,
    },
    { parent },
  );
  const policy = new alicloud.ram.Policy(
    `${name}-policy`,
    {
      policyName: ramName(name, "read-bundle"),
      description: `Read the rehost agent bundles of ${name}, nothing else`,
      policyDocument: bucket.bucket.apply((b) =>
        JSON.stringify({ Version: "1", Statement: [{ Effect: "Allow", Action: ["oss:GetObject"], Resource: [`acs:oss:*:*:${b}/rehost/agent/*`] }] }),
      ),
      force: true,
    },
    { parent },
  );
  const attachment = new alicloud.ram.RolePolicyAttachment(
    `${name}-policy-attachment`,
    { policyName: policy.policyName, policyType: "Custom", roleName: role.roleName },
    { parent },
  );
  // The region's internal endpoint (`oss-<region>-internal.aliyuncs.com`), reachable from the VPC without internet.
  const endpoint = bucket.bucket.apply((b) => `https://${b}.oss-${args.region}-internal.aliyuncs.com`);
  return { bucket, object, role, attachment, endpoint };
}
