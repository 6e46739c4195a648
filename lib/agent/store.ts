/**
 * Files the agent keeps in its state directory, written atomically: a write goes to a temporary
 * file that is fsynced and renamed over the old one, then the directory is fsynced, so a crash at
 * any moment leaves either the old or the new content.
 *
 * Layout: `jobs/<id>.json` (spec and status), `journals/<id>.r<round>.journal` (the copier's
 * journal of the round in progress),
 * `digests/<id>.blocks` (the target's 1 MiB block hashes after the last round, see `jobs.ts`),
 * `tls/cert.pem`, `tls/key.pem`, `token`.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** Writes `data` to `file` atomically (see the module comment). */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, "w", mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
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

  /** Removes every journal file of job `id` (a round's journal is useless once it is done). */
  removeJournals(id: string): void {
    for (const name of fs.readdirSync(this.journalsDir)) {
      if (name.startsWith(`${id}.r`) && name.includes(".journal")) fs.rmSync(path.join(this.journalsDir, name), { force: true });
    }
  }

  /** Creates the directories (mode 0700). */
  ensure(): void {
    for (const dir of [this.root, this.jobsDir, this.journalsDir, this.digestsDir, this.tlsDir]) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Every saved job record, parsed; files that are not JSON are reported through `onBad`. */
  loadJobs<T>(onBad: (file: string, err: unknown) => void): T[] {
    const records: T[] = [];
    for (const name of fs.readdirSync(this.jobsDir).sort()) {
      if (!name.endsWith(".json") || name.startsWith(".")) continue;
      const file = path.join(this.jobsDir, name);
      try {
        records.push(JSON.parse(fs.readFileSync(file, "utf8")) as T);
      } catch (err) {
        onBad(file, err);
      }
    }
    return records;
  }

  saveJob(id: string, record: unknown): void {
    writeFileAtomic(this.jobFile(id), `${JSON.stringify(record, null, 2)}\n`);
  }

  removeJob(id: string): void {
    fs.rmSync(this.jobFile(id), { force: true });
    fs.rmSync(this.blockDigestsFile(id), { force: true });
    this.removeJournals(id);
  }
}
