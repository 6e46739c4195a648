/**
 * `rehost inventory`: read the source estate from vCenter and write it as an inventory file that
 * `rehost plan` reads. vCenter does not know portgroup CIDRs: `--networks` merges them in, or
 * `rehost plan --networks` supplies them later. Also reports disks that cannot be replicated and
 * snapshots rehost left behind (and removes them with `--remove-leftover-snapshots`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type Command, Option } from "commander";
import type { Inventory, Network } from "../../inventory";
import { InputError, formatProblem, problem, textWithFieldNames, withFieldNames, type Problem } from "../../problems";
import type { Estate, SnapshotInfo } from "../../vsphere";
import { VCENTER_FLAGS } from "../flags";

/** Options of `rehost inventory`, as commander parses them. */
export interface InventoryCommandOptions {
  readonly vcenter: string;
  readonly user: string;
  readonly out?: string;
  readonly networks?: string;
  readonly ca?: string;
  readonly thumbprint?: string;
  readonly insecure?: boolean;
  readonly format?: "yaml" | "json";
  readonly json?: boolean;
  readonly removeLeftoverSnapshots?: boolean;
}

/** What the command reports besides the inventory document (the `--json` report). */
export interface InventoryReport {
  readonly vcenter: string;
  readonly vms: number;
  readonly disks: number;
  readonly nics: number;
  readonly out?: string;
  readonly portgroups: readonly string[];
  readonly hosts: number;
  readonly datastores: number;
  readonly unreplicable: Estate["unreplicable"];
  readonly leftoverSnapshots: readonly SnapshotInfo[];
  readonly removedSnapshots: readonly SnapshotInfo[];
  readonly skipped: Estate["skipped"];
  readonly problems: readonly Problem[];
}

/** Registers `rehost inventory`. */
export function register(program: Command): void {
  program
    .command("inventory")
    .description("Read the source VMs from vCenter (disks, NICs, IPs, power, folders) and write an inventory for `rehost plan`.")
    .addHelpText(
      "after",
      `
Examples:
  REHOST_VCENTER_PASSWORD=… rehost inventory --vcenter https://vcenter.example.com --user migrate@vsphere.local --out inventory.yaml
  rehost inventory --vcenter https://vc01 --user ro@vsphere.local --ca vc-ca.pem --networks networks.yaml --out inventory.yaml --json`,
    )
    .requiredOption("--vcenter <url>", "vCenter address (https://vcenter.example.com)")
    .requiredOption("--user <user>", "vCenter user; the password comes from REHOST_VCENTER_PASSWORD or a prompt")
    .option("--out <file>", "write the inventory here (.yaml/.yml or .json) instead of standard output")
    .option("--networks <file>", "networks file (portgroup → CIDR, gateway, VLAN) merged into the inventory")
    .option("--ca <file>", "PEM file with the CA certificate vCenter's certificate is signed by")
    .option("--thumbprint <sha>", "trust exactly the vCenter certificate with this SHA-256 (or SHA-1) fingerprint")
    .option("--insecure", "do not verify vCenter's certificate (labs only; prints a warning)")
    .addOption(new Option("--format <format>", "inventory document format (default: by --out extension, else YAML)").choices(["yaml", "json"]))
    .option("--json", "print the report as one JSON object (on stdout with --out, else on stderr)")
    .option("--remove-leftover-snapshots", "remove the snapshots rehost created that were left behind")
    .action(async (options: InventoryCommandOptions) => {
      await runInventory(options);
    });
}

/** Where the command writes: standard output and error unless told otherwise. */
export interface InventoryOutput {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/**
 * Runs the command. Local inputs (networks file, CA file, password) are checked before vCenter is
 * contacted; any `InputError` leaves `--out` unwritten.
 */
export async function runInventory(options: InventoryCommandOptions, io: InventoryOutput = process): Promise<InventoryReport> {
  refuseCredentialsInUrl(options.vcenter);
  // Loaded here, not at start: `rehost --version` and the other commands need none of it.
  const { loadNetworks, mergeNetworks, unmappedPortgroups, validateVms } = await import("../../inventory/index.js");
  const { connectVSphere, resolvePassword, unreplicableProblems } = await import("../../vsphere/index.js");
  const { stringify } = await import("yaml");
  const networks: Network[] = options.networks !== undefined ? await loadNetworks(options.networks) : [];
  const password = await resolvePassword(options.user);
  const client = await connectVSphere({
    url: options.vcenter,
    user: options.user,
    password,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.thumbprint !== undefined ? { thumbprint: options.thumbprint } : {}),
    insecure: options.insecure ?? false,
    warn: (message) => io.stderr.write(`warning: ${textWithFieldNames(message, VCENTER_FLAGS)}\n`),
  }).catch((err: unknown) => {
    throw withFieldNames(err, VCENTER_FLAGS);
  });
  let estate: Estate;
  let removed: SnapshotInfo[] = [];
  try {
    io.stderr.write(`connected to ${client.about.fullName || options.vcenter} (API ${client.about.apiVersion})\n`);
    estate = await client.estate();
    if (options.removeLeftoverSnapshots) removed = await client.removeLeftoverSnapshots();
  } finally {
    await client.logout();
  }

  const inventory: Inventory = { vms: estate.inventory.vms, networks: mergeNetworks([], networks) };
  const removedIds = new Set(removed.map((s) => s.moref));
  const leftovers = estate.snapshots.filter((s) => s.createdByRehost && !removedIds.has(s.moref));
  const problems: Problem[] = [
    ...unreplicableProblems(estate.unreplicable),
    ...validateVms(inventory.vms, undefined).map(asWarning),
    ...(options.networks !== undefined ? unmappedPortgroups(inventory.vms, inventory.networks, undefined, options.networks).map(asWarning) : []),
    ...leftovers.map((s): Problem => ({
      severity: "warning",
      vm: s.vm,
      field: "snapshot",
      received: `${s.name} (${s.moref}${s.createTime ? `, ${s.createTime}` : ""})`,
      message: "A snapshot rehost created was left behind; it grows with every write to the VM",
      fix: "run again with --remove-leftover-snapshots",
    })),
    ...estate.skipped.map((s): Problem => ({ severity: "warning", vm: s.vm, message: `VM ${s.vm} is not in the inventory: ${s.reason}` })),
  ];

  const format = options.format ?? (options.out !== undefined && /\.json$/i.test(options.out) ? "json" : "yaml");
  const document = format === "json" ? `${JSON.stringify(inventory, null, 2)}\n` : stringify(inventory);
  if (options.out !== undefined) writeAtomically(options.out, document);
  else io.stdout.write(document);

  const report: InventoryReport = {
    vcenter: options.vcenter,
    vms: inventory.vms.length,
    disks: inventory.vms.reduce((n, vm) => n + vm.disks.length, 0),
    nics: inventory.vms.reduce((n, vm) => n + vm.nics.length, 0),
    ...(options.out !== undefined ? { out: options.out } : {}),
    portgroups: estate.portgroups.map((p) => p.name),
    hosts: estate.hosts.length,
    datastores: estate.datastores.length,
    unreplicable: estate.unreplicable,
    leftoverSnapshots: leftovers,
    removedSnapshots: removed,
    skipped: estate.skipped,
    problems,
  };
  const reportStream = options.out !== undefined ? io.stdout : io.stderr;
  if (options.json) {
    reportStream.write(`${JSON.stringify(report)}\n`);
  } else {
    for (const p of problems) io.stderr.write(`${formatProblem(p)}\n`);
    for (const s of removed) io.stderr.write(`removed leftover snapshot ${s.name} of ${s.vm}\n`);
    reportStream.write(
      `${report.vms} VMs (${report.disks} disks, ${report.nics} NICs), ${report.portgroups.length} portgroups, ${report.hosts} hosts, ${report.datastores} datastores` +
        `${report.out !== undefined ? `; inventory written to ${report.out}` : ""}\n`,
    );
  }
  return report;
}

/**
 * A vCenter URL carrying a user or password (`https://admin:secret@vc/`) is refused before
 * anything is contacted or printed: the password would end up in shell history, process lists
 * and the `--json` report.
 */
function refuseCredentialsInUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return; // The vSphere client names a malformed URL itself.
  }
  if (parsed.username === "" && parsed.password === "") return;
  const what = parsed.password !== "" ? "a user and password" : "a user";
  parsed.username = "";
  parsed.password = "";
  throw new InputError(
    problem({
      field: "--vcenter",
      received: `a URL with ${what} in it (${parsed.toString()} once they are removed)`,
      expected: "the vCenter address alone, such as https://vcenter.example.com",
      fix: "pass the user with --user and the password in REHOST_VCENTER_PASSWORD (or at the prompt)",
      message: "The vCenter URL carries credentials; rehost does not take a password in a URL",
    }),
  );
}

function asWarning(p: Problem): Problem {
  return { ...p, severity: "warning" };
}

function writeAtomically(file: string, text: string): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(temp, text);
  fs.renameSync(temp, file);
}
