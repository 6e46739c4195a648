/**
 * Files the agent keeps in its state directory, each written atomically (`service/files.ts`).
 *
 * Layout: `jobs/<id>.json` (spec and status), `journals/<id>.r<round>.journal` (the copier's
 * journal of the round in progress),
 * `digests/<id>.blocks` (the target's 1 MiB block hashes after the last round, see `target-digests.ts`),
 * `tls/cert.pem`, `tls/key.pem`, `token`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../service/files";

/** A job file as found at start. */
export interface SavedJob {
  /** The job id, from the file name. */
  readonly id: string;
  readonly file: string;
  /** The parsed content; undefined when neither the file nor its backup is JSON. */
  readonly record: unknown;
  /** Whether `record` is the previous version, the file itself being unreadable. */
  readonly fromBackup: boolean;
  readonly error?: string;
}

/** Paths inside an agent state directory. */
export class StateDir {
  constructor(readonly root: string) {}

  get jobsDir(): string {
    return path.join(this.root, "jobs");
  }
  get journalsDir(): string {
    return path.join(this.root, "journals");
  }
  get digestsDir(): string {
    return path.join(this.root, "digests");
  }
  get tlsDir(): string {
    return path.join(this.root, "tls");
  }
  get tokenFile(): string {
    return path.join(this.root, "token");
  }
  jobFile(id: string): string {
    return path.join(this.jobsDir, `${id}.json`);
  }
  /** The target's block hashes after the job's last round (`BlockDigests`, serialized). */
  blockDigestsFile(id: string): string {
    return path.join(this.digestsDir, `${id}.blocks`);
  }
  journalFile(id: string, round: number): string {
    return path.join(this.journalsDir, `${id}.r${round}.journal`);
  }

  /** Removes every journal file of job `id` — exactly its own, not those of `id.x` (a round's journal is useless once it is recorded). */
  removeJournals(id: string): void {
    const own = new RegExp(`^${id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.r\\d+\\.journal(\\.tmp)?$`);
    for (const name of fs.readdirSync(this.journalsDir)) {
      if (own.test(name)) fs.rmSync(path.join(this.journalsDir, name), { force: true });
    }
  }

  /** Creates the directories (mode 0700). */
  ensure(): void {
    for (const dir of [this.root, this.jobsDir, this.journalsDir, this.digestsDir, this.tlsDir]) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /**
   * Every saved job, by its file: the parsed record, or — when the file is not JSON — its previous
   * version (`.bak`) when that one is, else no record (reported through `onBad`). No job is left
   * out: the caller decides what an unreadable one means. Leftover temporary files are removed.
   */
  loadJobs(onBad: (file: string, err: unknown) => void): SavedJob[] {
    const jobs: SavedJob[] = [];
    for (const name of fs.readdirSync(this.jobsDir).sort()) {
      const file = path.join(this.jobsDir, name);
      if (name.startsWith(".") && name.endsWith(".tmp")) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (!name.endsWith(".json") || name.startsWith(".")) continue;
      const id = name.slice(0, -".json".length);
      try {
        jobs.push({ id, file, record: JSON.parse(fs.readFileSync(file, "utf8")) as unknown, fromBackup: false });
      } catch (err) {
        onBad(file, err);
        try {
          jobs.push({ id, file, record: JSON.parse(fs.readFileSync(`${file}.bak`, "utf8")) as unknown, fromBackup: true });
        } catch {
          jobs.push({ id, file, record: undefined, fromBackup: false, error: (err as Error).message });
        }
      }
    }
    return jobs;
  }

  /** Saves a job's record; its previous version stays as `<id>.json.bak`. */
  saveJob(id: string, record: unknown): void {
    writeFileAtomic(this.jobFile(id), `${JSON.stringify(record, null, 2)}\n`, 0o600, true);
  }

  removeJob(id: string): void {
    fs.rmSync(this.jobFile(id), { force: true });
    fs.rmSync(`${this.jobFile(id)}.bak`, { force: true });
    fs.rmSync(this.blockDigestsFile(id), { force: true });
    this.removeJournals(id);
  }
}
