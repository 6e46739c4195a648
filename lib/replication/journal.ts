/**
 * The journal of one sync round: which requests of the round are complete, checkpointed to a file
 * so a round killed at any moment resumes where it stopped.
 *
 * The copier issues the requests of a round in increasing offset order, and the order is the same
 * when the round is resumed (same source, target, extent source and block size). A checkpoint is
 * therefore small: the `frontier` (every request starting before it is complete) plus the
 * requests completed beyond it. Each checkpoint is written to `FILE.tmp`, fsynced, renamed over
 * `FILE`, and the directory fsynced: a crash leaves either the previous or the new checkpoint.
 * The target is flushed before each checkpoint, so what a checkpoint calls complete is on disk.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError, problem, type Problem } from "../problems";
import type { Extent } from "./device";

/** The on-disk format tag. */
export const JOURNAL_FORMAT = "rehost-journal/1";

/** What a journal belongs to; a journal is only resumed for the same round. */
export interface JournalIdentity {
  readonly source: string;
  readonly target: string;
  readonly size: number;
  readonly changed: string;
  readonly blockSize: number;
}

/** A checkpoint: the identity, the frontier and the requests complete beyond it. */
export interface JournalState extends JournalIdentity {
  readonly format: typeof JOURNAL_FORMAT;
  readonly frontier: number;
  readonly done: readonly Extent[];
  /** Bytes of the round complete at this checkpoint. */
  readonly bytesDone: number;
  readonly updated: string;
}

/** The journal file of a round. */
export class Journal {
  private constructor(
    readonly file: string,
    readonly identity: JournalIdentity,
    /** The checkpoint found when the round started, when it resumes one. */
    readonly resumedFrom: JournalState | undefined,
  ) {}

  /**
   * Opens the journal at `file`: resumes its checkpoint when it belongs to the same round, starts
   * a new one when the file does not exist, and throws `InputError` when it belongs to another
   * round or cannot be read.
   */
  static open(file: string, identity: JournalIdentity): Journal {
    if (!fs.existsSync(file)) {
      const dir = path.dirname(path.resolve(file));
      if (!fs.existsSync(dir)) {
        throw new InputError(
          problem({
            file,
            field: "journal",
            received: dir,
            expected: "an existing directory",
            fix: "create the directory or choose another journal path",
            message: "The journal's directory does not exist",
          }),
        );
      }
      return new Journal(file, identity, undefined);
    }
    let state: JournalState;
    try {
      state = JSON.parse(fs.readFileSync(file, "utf8")) as JournalState;
    } catch (err) {
      throw new InputError(
        problem({
          file,
          field: "journal",
          message: `The journal cannot be read: ${(err as Error).message}`,
          expected: `a ${JOURNAL_FORMAT} file`,
          fix: "delete it to start the round over",
        }),
      );
    }
    if (state.format !== JOURNAL_FORMAT) {
      throw new InputError(
        problem({
          file,
          field: "format",
          received: JSON.stringify(state.format),
          expected: JOURNAL_FORMAT,
          fix: "delete it to start the round over",
          message: "The file is not a rehost journal",
        }),
      );
    }
    const problems: Problem[] = [];
    for (const key of ["source", "target", "size", "changed", "blockSize"] as const) {
      if (state[key] !== identity[key]) {
        problems.push(
          problem({
            file,
            field: key,
            received: JSON.stringify(identity[key]),
            expected: JSON.stringify(state[key]),
            fix: "resume with the same arguments, or delete the journal to start a new round",
            message: `The journal belongs to another round (its ${key} differs)`,
          }),
        );
      }
    }
    if (problems.length > 0) throw new InputError(problems);
    return new Journal(file, identity, state);
  }

  /** Writes a checkpoint atomically and durably. */
  async checkpoint(frontier: number, done: readonly Extent[], bytesDone: number): Promise<void> {
    const state: JournalState = {
      format: JOURNAL_FORMAT,
      ...this.identity,
      frontier,
      done,
      bytesDone,
      updated: new Date().toISOString(),
    };
    const temporary = `${this.file}.tmp`;
    const handle = await fs.promises.open(temporary, "w");
    try {
      await handle.writeFile(`${JSON.stringify(state)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temporary, this.file);
    await syncDirectory(path.dirname(path.resolve(this.file)));
  }

  /** Removes the journal once the round is complete and flushed. */
  async remove(): Promise<void> {
    await fs.promises.rm(this.file, { force: true });
    await syncDirectory(path.dirname(path.resolve(this.file)));
  }
}

/** A predicate telling whether a request of the round was complete at checkpoint `state`. */
export function completedAt(state: JournalState | undefined): (offset: number, length: number) => boolean {
  if (state === undefined) return () => false;
  const done = new Set(state.done.map((e) => `${e.offset}+${e.length}`));
  return (offset, length) => offset < state.frontier || done.has(`${offset}+${length}`);
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
