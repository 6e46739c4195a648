/**
 * `rehost adapt DISK`: prepares a Linux or Windows system disk cloned from a rehearsal or
 * cutover snapshot for its first boot on ECS, through libguestfs: Linux gets virtio in its
 * initramfs, UUIDs and DHCP networking; Windows gets the virtio drivers of `--virtio-win` as
 * boot-start services in every control set and a first-boot script.
 *
 * Progress lines on stderr; with `--json`, newline-delimited JSON events on stdout
 * (`{"event":"step","step":...}`) ending with `{"event":"done","report":{...}}`, or with
 * `{"event":"refused","reason":...,"problems":[...]}` when the disk was refused untouched.
 * Exits 1 when a kernel still lacks the virtio drivers it needs to boot, or the disk was refused.
 */
import * as fs from "node:fs";
import type { Command } from "commander";
import type { Plan } from "../../plan/types";
import { InputError, problem, type Problem } from "../../problems";
import { CheckFailed } from "../errors";

interface AdaptFlags {
  dataDisk: string[];
  secondary: string[];
  nics?: string;
  plan?: string;
  vm?: string;
  format?: string;
  cloudInit?: boolean;
  virtioWin?: string;
  firstbootService?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function register(program: Command): void {
  program
    .command("adapt")
    .description(
      "Adapt a Linux or Windows system disk (a clone, never the replica) for KVM/virtio on ECS: Linux initramfs, fstab, boot loader, network; Windows virtio drivers, boot-start services, first-boot script.",
    )
    .argument("<disk>", "system disk: image file or block device")
    .option("--data-disk <path>", "a data disk of the same VM, in VMware order (repeatable)", collect, [])
    .option("--secondary <ethN:ip/prefix>", "a static secondary address to keep, e.g. eth0:10.1.1.21/24 (repeatable)", collect, [])
    .option("--nics <n>", "number of NICs to configure for DHCP (eth0…)")
    .option("--plan <file>", "a plan JSON (`rehost plan --format json`): NICs and secondary addresses of --vm")
    .option("--vm <name>", "the VM of --plan this disk belongs to")
    .option("--format <raw|qcow2>", "image format (default: qcow2 for *.qcow2, raw otherwise)")
    .option("--cloud-init", "enable cloud-init with the AliYun datasource")
    .option("--virtio-win <path>", "Windows: the virtio-win ISO or directory the drivers come from")
    .option("--firstboot-service <exe>", "Windows: rhsrvany.exe or pvvxsvc.exe to start the first-boot script (default: /usr/share/virt-tools, else cmd.exe)")
    .option("--json", "newline-delimited JSON events on stdout; the last line is the report")
    .action(async (disk: string, flags: AdaptFlags) => {
      const { adaptDisk, adaptOptionsFromPlan, validateAdaptOptions, GuestRefused }: typeof import("../../guest") = require("../../guest");
      const { options, problems } = adaptOptionsFromFlags(flags, adaptOptionsFromPlan);
      const flagOf: Record<string, string> = { virtioWin: "--virtio-win", firstBootService: "--firstboot-service" };
      problems.push(
        ...validateAdaptOptions(disk, options).map((p) => (p.field !== undefined && flagOf[p.field] !== undefined ? { ...p, field: flagOf[p.field] } : p)),
      );
      if (problems.length > 0) throw new InputError(problems);
      const controller = new AbortController();
      const stop = () => controller.abort(new Error("interrupted"));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const started = Date.now();
      const onProgress = (step: string) => {
        if (flags.json === true) process.stdout.write(`${JSON.stringify({ event: "step", step, seconds: (Date.now() - started) / 1000 })}\n`);
        else process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${step}\n`);
      };
      try {
        const report = await adaptDisk(disk, { ...options, signal: controller.signal, onProgress }).catch((err: unknown) => {
          if (!(err instanceof GuestRefused)) throw err;
          if (flags.json === true)
            process.stdout.write(`${JSON.stringify({ event: "refused", disk: err.disk, reason: err.reason, problems: err.problems })}\n`);
          throw new CheckFailed(`${err.message}\n${disk}: refused (${err.reason}); nothing was written`);
        });
        if (flags.json === true) process.stdout.write(`${JSON.stringify({ event: "done", report })}\n`);
        else {
          const o = report.os;
          process.stdout.write(
            `${report.disk}: ${o.prettyName} (${o.family === "windows" ? `${o.version} build ${o.build}, ${o.edition || o.variant}, ${o.arch}, ${o.bootMode}, control sets ${o.controlSets.join(" ")}` : `${o.family}, ${o.initramfsTool}, ${o.network}`})\n`,
          );
          if (report.windows) {
            const w = report.windows;
            for (const d of w.drivers) process.stdout.write(`  driver ${d.name.padEnd(8)} ${d.source}${d.bootStart ? " (boot start)" : ""}\n`);
            for (const sv of w.services) process.stdout.write(`  service ${sv.name} Start=${sv.start} in ${sv.controlSets.join(", ")}\n`);
            process.stdout.write(
              `  first boot: ${w.firstBoot.script} via ${w.firstBoot.launcher}, log ${w.firstBoot.log}: ${w.firstBoot.actions.join("; ")}\n`,
            );
          }
          for (const k of report.kernels) {
            process.stdout.write(
              `  kernel ${k.version}: ${Object.entries(k.modules)
                .map(([m, s]) => `${m} ${s}`)
                .join(", ")}${k.rebuilt ? " (initramfs rebuilt)" : ""}\n`,
            );
          }
          for (const c of report.changes) process.stdout.write(`  ${c.area.padEnd(12)} ${c.action.padEnd(6)} ${c.path}: ${c.detail}\n`);
          for (const w of report.warnings) process.stdout.write(`  warning: ${w}\n`);
          process.stdout.write(`${report.ok ? "adapted" : "NOT bootable on ECS"} in ${(report.durationMs / 1000).toFixed(0)} s\n`);
        }
        if (!report.ok) throw new CheckFailed(`${disk}: ${report.warnings.join(" ")}`);
      } finally {
        process.removeListener("SIGINT", stop);
        process.removeListener("SIGTERM", stop);
      }
    });
}

type FromPlan = typeof import("../../guest").adaptOptionsFromPlan;

/** The options the flags (and the plan they name) ask for, and the problems of the flags. */
function adaptOptionsFromFlags(flags: AdaptFlags, fromPlan: FromPlan): { options: import("../../guest").AdaptDiskOptions; problems: Problem[] } {
  const problems: Problem[] = [];
  let planned: ReturnType<FromPlan> = {};
  if ((flags.plan === undefined) !== (flags.vm === undefined)) {
    problems.push(
      problem({
        field: flags.plan === undefined ? "--plan" : "--vm",
        expected: "--plan and --vm together",
        message: "--plan and --vm go together",
        fix: "give both, or neither",
      }),
    );
  } else if (flags.plan !== undefined) {
    let plan: Plan | undefined;
    try {
      plan = JSON.parse(fs.readFileSync(flags.plan, "utf8")) as Plan;
    } catch (err) {
      problems.push(
        problem({
          file: flags.plan,
          received: (err as Error).message,
          expected: "a plan JSON file",
          message: "The plan cannot be read",
          fix: "write it with `rehost plan --format json`",
        }),
      );
    }
    const vm = plan?.waves?.flatMap((w) => w.vms).find((v) => v.name === flags.vm);
    if (plan !== undefined && vm === undefined) {
      problems.push(
        problem({
          file: flags.plan,
          vm: flags.vm!,
          field: "--vm",
          received: flags.vm!,
          expected: "a VM of the plan",
          message: "The plan has no such VM",
          fix: "use the VM's name as the inventory spells it",
        }),
      );
    }
    if (vm !== undefined) planned = fromPlan(vm);
  }
  const secondary = flags.secondary.map((s, i) => {
    const m = /^(eth\d+):([^/]+)\/(\d+)$/.exec(s);
    if (!m) {
      problems.push(
        problem({
          field: `--secondary[${i}]`,
          received: s,
          expected: "ethN:IPv4/prefix, e.g. eth0:10.1.1.21/24",
          message: "A --secondary value is malformed",
          fix: "name the interface, the address and its prefix length",
        }),
      );
      return undefined;
    }
    return { device: m[1]!, address: m[2]!, prefixLength: Number(m[3]) };
  });
  if (flags.format !== undefined && flags.format !== "raw" && flags.format !== "qcow2") {
    problems.push(
      problem({
        field: "--format",
        received: flags.format,
        expected: "raw or qcow2",
        message: "The image format is not supported",
        fix: "convert the image with qemu-img convert",
      }),
    );
  }
  const nics = flags.nics === undefined ? undefined : Number(flags.nics);
  const staticSecondary = [...(planned.staticSecondary ?? []), ...secondary.filter((s) => s !== undefined)];
  const options = {
    ...(flags.dataDisk.length > 0 ? { dataDisks: flags.dataDisk } : {}),
    ...(staticSecondary.length > 0 ? { staticSecondary } : {}),
    ...(nics !== undefined ? { nicCount: nics } : planned.nicCount !== undefined ? { nicCount: planned.nicCount } : {}),
    ...(flags.format !== undefined ? { format: flags.format as "raw" | "qcow2" } : {}),
    ...(flags.cloudInit === true ? { cloudInit: true } : {}),
    ...(flags.virtioWin !== undefined ? { virtioWin: flags.virtioWin } : {}),
    ...(flags.firstbootService !== undefined ? { firstBootService: flags.firstbootService } : {}),
    ...(planned.nicAddresses !== undefined && planned.nicAddresses.length > 0 ? { nicAddresses: planned.nicAddresses } : {}),
  };
  return { options, problems };
}
