/**
 * `rehost lab`: the whole lifecycle of a wave on this machine. It builds the lab estate's disks
 * as real images, serves them with qemu-nbd, starts an agent on loopback, and drives the wave
 * through the dynamic providers, exactly as `pulumi up` would call them:
 *
 *   initial sync (business writing) → incremental rounds from dirty bitmaps → rehearsal point
 *   (freeze, snapshot, thaw) → another round → cutover (shutdown, final round, verification)
 *
 * then reports per disk the bytes each round moved, the time, and the source/target digests, with
 * the cloud resources the wave would declare from the offline preview. Every process it starts is
 * stopped at the end, on a failure and on Ctrl-C.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JobStatus } from "../agent/api";
import { AgentClient } from "../agent/client";
import { loadInventory, loadWaves } from "../inventory";
import { buildPlan } from "../plan";
import type { PlannedDisk, PlannedVm, PlannedWave } from "../plan/types";
import { packagePath } from "../package";
import { InputError } from "../problems";
import type * as pulumi from "@pulumi/pulumi";
import { CREDENTIALS, cutoverProvider, rehearsalPointProvider, rehearsalThawProvider, replicationProvider } from "../providers";
import { digest } from "../replication";
import { BusinessWriter } from "./business";
import { buildDiskImage, createTargetDisk, rotateBitmap } from "./images";
import { ProcessGroup, startQemuNbd, unixUri, type Owned } from "./processes";
import { renderMarkdown, renderTerminal, type DiskReport, type LabReport, type RoundReport } from "./report";


/** Options of `runLab` (the `rehost lab` flags). */
export interface LabOptions {
  /** @default examples/lab/inventory.yaml of this package */
  readonly inventory?: string;
  /** @default examples/lab/waves.yaml of this package */
  readonly waves?: string;
  /** Stack configs for the offline preview. @default examples/lab/stacks of this package */
  readonly stacksDir?: string;
  /** The stack whose resources the report lists. @default "lab-cutover" */
  readonly previewStack?: string;
  /** The wave to run. @default - the first wave of the waves file */
  readonly wave?: string;
  /** Where images, targets and the agent's state go. @default - a new directory under the system temp dir, removed at the end */
  readonly workdir?: string;
  /** Keep the work directory. @default false (kept anyway when it was given) */
  readonly keep?: boolean;
  /** Markdown report path (a `.json` twin is written next to it). @default .rehost/lab-report.md */
  readonly report?: string;
  /** Incremental rounds before the rehearsal point. @default 2 */
  readonly roundsBeforeRehearsal?: number;
  /** Seconds the business writes between two round boundaries. @default 1 */
  readonly businessSeconds?: number;
  /** Progress lines. @default - none */
  readonly progress?: (line: string) => void;
  /** Live status of running rounds (called about twice a second while a step waits). */
  readonly live?: (jobs: readonly JobStatus[], step: string) => void;
  /** Aborting stops every process and fails the run. */
  readonly signal?: AbortSignal;
}

/** One source disk of the lab, with its server and business writer. */
interface LabDisk {
  readonly vm: PlannedVm;
  readonly planned: PlannedDisk;
  readonly jobId: string;
  readonly image: string;
  readonly socket: string;
  readonly uri: string;
  readonly target: string;
  readonly writer: BusinessWriter;
  server?: Owned;
  outs?: Record<string, any>;
  readonly rounds: RoundReport[];
}

/** Runs the lab; resolves with its report (whose `ok` says whether every disk verified). */
export async function runLab(options: LabOptions = {}): Promise<LabReport> {
  const started = Date.now();
  const say = (line: string): void => options.progress?.(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const inventoryFile = options.inventory ?? packagePath("examples", "lab", "inventory.yaml");
  const wavesFile = options.waves ?? packagePath("examples", "lab", "waves.yaml");
  const stacksDir = options.stacksDir ?? packagePath("examples", "lab", "stacks");
  const reportFile = path.resolve(options.report ?? path.join(".rehost", "lab-report.md"));
  const roundsBefore = options.roundsBeforeRehearsal ?? 2;
  const businessMs = (options.businessSeconds ?? 1) * 1000;

  const inventory = await loadInventory(inventoryFile);
  const wavesDoc = await loadWaves(wavesFile);
  const plan = buildPlan(inventory, wavesDoc, { inventory: inventoryFile, waves: wavesFile });
  const errors = plan.problems.filter((p) => p.severity === "error");
  if (errors.length > 0) throw new InputError(errors);
  const wave: PlannedWave | undefined = options.wave === undefined ? plan.waves[0] : plan.waves.find((w) => w.name === options.wave);
  if (wave === undefined) {
    throw new InputError({ severity: "error", file: wavesFile, field: "waves", received: options.wave, expected: plan.waves.map((w) => w.name).join(", "), fix: "name a wave of the waves file", message: `There is no wave ${options.wave}.` });
  }

  const givenWorkdir = options.workdir !== undefined;
  const workdir = givenWorkdir ? path.resolve(options.workdir as string) : fs.mkdtempSync(path.join(os.tmpdir(), "rehost-lab-"));
  for (const sub of ["sources", "targets", "snapshots", "scratch", "agent"]) fs.mkdirSync(path.join(workdir, sub), { recursive: true });
  const group = new ProcessGroup();
  const abort = (): void => {
    void group.stopAll();
  };
  options.signal?.addEventListener("abort", abort, { once: true });
  const checkAbort = (): void => {
    if (options.signal?.aborted) throw new Error("The lab was interrupted.");
  };

  const disks: LabDisk[] = wave.vms.flatMap((vm) =>
    vm.disks.map((planned) => {
      const socket = path.join(workdir, "sources", `${planned.id}.sock`);
      return {
        vm,
        planned,
        jobId: planned.id,
        image: path.join(workdir, "sources", `${planned.id}.qcow2`),
        socket,
        uri: unixUri(socket),
        target: path.join(workdir, "targets", `${planned.id}.raw`),
        writer: new BusinessWriter(planned.id, planned.sizeBytes),
        rounds: [],
      };
    }),
  );
  const bitmap = (k: number): string => `rehost-round-${k}`;

  try {
    // 1. The estate as real images.
    say(`building ${disks.length} disk images of wave ${wave.name} (${wave.vms.length} VMs) in ${workdir}`);
    const queue = [...disks];
    const builder = async (): Promise<void> => {
      for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
        checkAbort();
        await buildDiskImage(
          {
            image: d.image,
            capacityBytes: d.planned.sizeBytes,
            dataBytes: Math.min(Math.round(d.planned.allocatedBytes * 0.85), d.planned.sizeBytes - 24 * 1024 * 1024),
            label: d.planned.role === "system" ? "root" : "data",
            role: d.planned.role,
            hostname: d.vm.name,
            ips: d.vm.ips,
            bitmap: bitmap(1),
          },
          path.join(workdir, "scratch"),
        );
        createTargetDisk(d.target, d.planned.sizeBytes);
        say(`  ${d.jobId}: ${(d.planned.sizeBytes / 2 ** 20).toFixed(0)} MiB qcow2, MBR + ext4 with files, bitmap ${bitmap(1)}`);
      }
    };
    // Two builders: mkfs and qemu-img run while the next tree is generated.
    await Promise.all([builder(), builder()]);

    // 2. Sources served, business running, the agent on loopback.
    for (const d of disks) d.server = await startQemuNbd(group, { image: d.image, format: "qcow2", socket: d.socket });
    for (const d of disks) await d.writer.start(d.uri);
    const agent = await startLabAgent(group, workdir, disks.map((d) => d.target));
    const token = fs.readFileSync(agent.tokenFile, "utf8").trim();
    // The providers get the lab agent's credentials as a stack's configuration would give them
    // (and no vCenter: the lab shuts its sources down itself and confirms it).
    const labConfig: Record<string, string> = { [CREDENTIALS.agentToken.config]: token, [CREDENTIALS.agentFingerprint.config]: agent.fingerprint };
    await replicationProvider.configure!({ config: { get: (key: string) => labConfig[key] } } as pulumi.dynamic.ConfigureRequest);
    const client = new AgentClient({ url: agent.url, token, fingerprint: agent.fingerprint });
    say(`agent listening on ${agent.url} (certificate ${agent.fingerprint.slice(0, 23)}…), ${disks.length} sources on qemu-nbd, business writing`);

    // A step ends when its work does, or at once when the lab is interrupted (the providers
    // would otherwise go on retrying the agent the interruption stopped).
    const interrupted = new Promise<never>((_, reject) => {
      const fail = (): void => reject(new Error("The lab was interrupted."));
      if (options.signal?.aborted) fail();
      else options.signal?.addEventListener("abort", fail, { once: true });
    });
    interrupted.catch(() => undefined);
    const watch = async <T>(step: string, work: Promise<T>): Promise<T> => {
      const timer = setInterval(() => {
        client
          .list()
          .then((l) => options.live?.(l.jobs, step))
          .catch(() => undefined);
      }, 500);
      try {
        return await Promise.race([work, interrupted]);
      } finally {
        clearInterval(timer);
      }
    };
    const record = async (round: number, kind: string): Promise<void> => {
      for (const d of disks) {
        const s = await client.get(d.jobId);
        const r = s.rounds.find((x) => x.round === round);
        if (r === undefined) continue; // a VM whose cutover failed before its final round
        d.rounds.push({ round, kind, bytesRead: r.bytesRead, bytesWritten: r.bytesWritten, bytesZeroed: r.bytesZeroed, seconds: r.seconds, digest: r.digest.digest });
      }
      const moved = disks.reduce((s, d) => s + (d.rounds.find((r) => r.round === round)?.bytesRead ?? 0), 0);
      say(`round ${round} (${kind}) done: ${mib(moved)} read from the sources`);
    };

    // 3. Initial sync: Replication create, business still writing.
    checkAbort();
    say("initial sync: Replication create for every disk");
    const common = { agentUrl: agent.url, pollSeconds: 0.2, timeoutSeconds: 300 };
    await watch(
      "initial sync",
      Promise.all(
        disks.map(async (d) => {
          const checked = await replicationProvider.check!({}, { ...common, jobId: d.jobId, source: d.uri, target: d.target, initial: "allocated", round: 0, waitForInitialSync: true });
          if (checked.failures !== undefined && checked.failures.length > 0) throw new Error(`Replication inputs of ${d.jobId}: ${checked.failures.map((f) => f.reason).join("; ")}`);
          d.outs = (await replicationProvider.create(checked.inputs)).outs;
        }),
      ),
    );
    await record(0, "initial (allocated)");

    /** A round boundary: writes pause, bitmap k freezes and k+1 starts, servers export k. */
    const boundary = async (k: number, final: boolean): Promise<void> => {
      await new Promise((r) => setTimeout(r, businessMs));
      for (const d of disks) {
        await d.writer.pause();
        await group.stop(d.server as Owned);
      }
      for (const d of disks) rotateBitmap(d.image, bitmap(k), final ? undefined : bitmap(k + 1), k > 1 ? bitmap(k - 1) : undefined);
      for (const d of disks) d.server = await startQemuNbd(group, { image: d.image, format: "qcow2", socket: d.socket, bitmap: bitmap(k), readOnly: final });
      if (!final) for (const d of disks) await d.writer.start(d.uri);
    };
    const incremental = async (k: number): Promise<void> => {
      checkAbort();
      await boundary(k, false);
      say(`round ${k}: Replication update (round ${k - 1} → ${k}, changed blocks from bitmap ${bitmap(k)})`);
      await watch(
        `round ${k}`,
        Promise.all(
          disks.map(async (d) => {
            const news = (await replicationProvider.check!(d.outs, { ...common, jobId: d.jobId, source: d.uri, target: d.target, initial: "allocated", round: k, changed: `bitmap:${bitmap(k)}`, waitForInitialSync: true })).inputs;
            const diff = await replicationProvider.diff!(d.jobId, d.outs, news);
            if (diff.replaces !== undefined && diff.replaces.length > 0) throw new Error(`Round ${k} of ${d.jobId} would replace the replication (${diff.replaces.join(", ")}).`);
            d.outs = (await replicationProvider.update!(d.jobId, d.outs, news)).outs;
          }),
        ),
      );
      await record(k, `incremental (bitmap)`);
    };

    let k = 1;
    for (; k <= roundsBefore; k++) await incremental(k);

    // 4. Rehearsal point: freeze, snapshot, thaw; replication goes on.
    checkAbort();
    const point = `${wave.name}-rehearsal-1`;
    say(`rehearsal point ${point}: RehearsalPoint create (freeze at a round boundary)`);
    const jobIds = disks.map((d) => d.jobId);
    const pointInputs = (await rehearsalPointProvider.check!({}, { ...common, jobIds, point })).inputs;
    const frozen = await watch("rehearsal point", rehearsalPointProvider.create(pointInputs));
    for (const d of disks) {
      const snapshot = path.join(workdir, "snapshots", `${d.jobId}@${point}.raw`);
      fs.copyFileSync(d.target, snapshot);
      const snapDigest = (await digest(snapshot)).digest;
      const held = frozen.outs.digests[d.jobId];
      if (snapDigest !== held.digest) throw new Error(`The snapshot of ${d.jobId} does not match the rehearsal point (${snapDigest} ≠ ${held.digest}).`);
    }
    say(`snapshots of ${disks.length} disks taken and checked against the point's digests; RehearsalThaw create`);
    await watch("rehearsal thaw", rehearsalThawProvider.create((await rehearsalThawProvider.check!({}, { ...common, jobIds, point, snapshots: disks.map((d) => `${d.jobId}@${point}`) })).inputs));
    for (const d of disks) fs.rmSync(path.join(workdir, "snapshots", `${d.jobId}@${point}.raw`), { force: true });

    await incremental(k);
    k++;

    // 5. Cutover: the sources shut down, the final round, verification.
    checkAbort();
    say("cutover: sources shut down (business stopped, disks read-only), Cutover create per VM");
    await boundary(k, true);
    const cutoverResults = new Map<string, { ok: true; digests: Record<string, { source: string; target: string }> } | { ok: false; error: string }>();
    await watch(
      "cutover",
      Promise.all(
        wave.vms.map(async (vm) => {
          const vmJobs = disks.filter((d) => d.vm.name === vm.name).map((d) => d.jobId);
          const checked = await cutoverProvider.check!({}, { ...common, vm: vm.name, jobIds: vmJobs, round: k, changed: `bitmap:${bitmap(k)}`, manualConfirmation: true });
          if (checked.failures !== undefined && checked.failures.length > 0) throw new Error(`Cutover inputs of ${vm.name}: ${checked.failures.map((f) => f.reason).join("; ")}`);
          try {
            const result = await cutoverProvider.create(checked.inputs);
            cutoverResults.set(vm.name, { ok: true, digests: result.outs.digests });
          } catch (err) {
            cutoverResults.set(vm.name, { ok: false, error: err instanceof Error ? err.message : String(err) });
          }
        }),
      ),
    );
    await record(k, "final (bitmap, source off)");
    const failed = [...cutoverResults.entries()].filter(([, r]) => !r.ok);
    for (const [vm, r] of failed) say(`cutover of ${vm} FAILED: ${(r as { error: string }).error}`);
    if (failed.length === 0) say(`cutover verified: source and target digests equal for all ${disks.length} disks`);

    // 6. What the wave declares in the cloud (offline preview), launched only after a verified cutover.
    const previewStack = options.previewStack ?? "lab-cutover";
    let preview: LabReport["preview"];
    if (failed.length > 0) {
      preview = { stack: previewStack, error: "not launched: the cutover failed verification" };
    } else try {
      const { runOfflinePreview } = require("../preview") as typeof import("../preview");
      // The lab plays its cutover inside the wave's change window: judge the window rule as of its start.
      const policyConfig = wave.window !== undefined ? { "cutover-in-change-window": { now: wave.window.start } } : undefined;
      const result = await runOfflinePreview({ stack: previewStack, stacksDir, policyConfig });
      const byType = new Map<string, number>();
      for (const r of result.resources) byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
      preview = {
        stack: previewStack,
        resources: [...byType.entries()].map(([type, count]) => ({ type, count })).sort((a, b) => a.type.localeCompare(b.type)),
        pinnedIps: result.pinnedIps.map((p) => ({ vm: p.vm, ip: p.ip, vswitch: p.vswitch })),
        mandatoryViolations: result.policyViolations.filter((v) => v.level === "mandatory").length,
      };
      say(`offline preview of stack ${previewStack}: ${result.resources.length} resources`);
    } catch (err) {
      preview = { stack: previewStack, error: err instanceof Error ? err.message.split("\n")[0] : String(err) };
      say(`offline preview of stack ${previewStack} unavailable: ${preview.error}`);
    }

    // 7. The wave is done: its replication jobs are unregistered (targets kept).
    for (const d of disks) await watch("unregister", replicationProvider.delete!(d.jobId, d.outs ?? {}));

    const diskReports: DiskReport[] = disks.map((d) => {
      const r = cutoverResults.get(d.vm.name);
      const digests = r !== undefined && r.ok ? r.digests[d.jobId] : undefined;
      return {
        disk: d.jobId,
        vm: d.vm.name,
        sizeBytes: d.planned.sizeBytes,
        gateway: d.planned.gateway,
        rounds: d.rounds,
        rehearsalDigest: frozen.outs.digests[d.jobId].digest,
        sourceDigest: digests?.source ?? "",
        targetDigest: digests?.target ?? "",
        verified: digests !== undefined && digests.source === digests.target,
        businessBytes: d.writer.bytesWritten + d.writer.bytesZeroed,
      };
    });
    const report: LabReport = {
      wave: wave.name,
      startedAt: new Date(started).toISOString(),
      seconds: Math.round((Date.now() - started) / 100) / 10,
      agent: agent.url,
      rehearsalPoint: point,
      disks: diskReports,
      failures: failed.map(([vm, r]) => ({ vm, error: (r as { error: string }).error })),
      preview,
      ok: failed.length === 0 && diskReports.every((d) => d.verified),
      reportFile,
    };
    fs.mkdirSync(path.dirname(reportFile), { recursive: true });
    fs.writeFileSync(reportFile, renderMarkdown(report));
    fs.writeFileSync(reportFile.replace(/\.md$/, "") + ".json", `${JSON.stringify(report, null, 2)}\n`);
    options.progress?.(renderTerminal(report));
    return report;
  } finally {
    options.signal?.removeEventListener("abort", abort);
    for (const d of disks) await d.writer.pause().catch(() => undefined);
    await group.stopAll();
    if (!givenWorkdir && options.keep !== true) fs.rmSync(workdir, { recursive: true, force: true });
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Starts `rehost agent` as a child process (JSON logs to agent.log) and waits until it listens. */
async function startLabAgent(group: ProcessGroup, workdir: string, allow: readonly string[]): Promise<{ url: string; fingerprint: string; tokenFile: string }> {
  const log = fs.createWriteStream(path.join(workdir, "agent.log"));
  let listening: { url: string; fingerprint: string } | undefined;
  const proc = group.spawn(
    "rehost agent",
    process.execPath,
    [packagePath("bin", "rehost.js"), "agent", "--state", path.join(workdir, "agent"), "--listen", "127.0.0.1:0", "--allow", allow.join(","), "--max-concurrent", "4", "--checkpoint-interval", "16Mi"],
    {
      onStdout: (line) => {
        log.write(`${line}\n`);
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string; fingerprint?: string };
          if (entry.msg === "agent listening" && entry.url !== undefined && entry.fingerprint !== undefined) listening = { url: entry.url, fingerprint: entry.fingerprint };
        } catch {
          // Not a log line; kept in agent.log.
        }
      },
    },
  );
  proc.exited.then(() => log.end()).catch(() => undefined);
  const deadline = Date.now() + 60_000;
  while (listening === undefined) {
    if (proc.child.exitCode !== null) throw new Error(`The agent exited with code ${proc.child.exitCode}: ${proc.stderr().trim()}`);
    if (Date.now() > deadline) throw new Error("The agent did not start listening within 60 s.");
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ...listening, tokenFile: path.join(workdir, "agent", "token") };
}
