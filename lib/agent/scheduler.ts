/**
 * A first-come, first-served limit on how many disks copy at once. Jobs beyond the limit wait in
 * a queue; a slot is handed to the next waiter as soon as one is released.
 */

/** Releases a slot; calling it more than once releases it once. */
export type Release = () => void;

/** A counting semaphore with a FIFO queue. */
export class Scheduler {
  private running = 0;
  private readonly waiting: Array<{ grant: (release: Release) => void }> = [];

  /** @param limit how many slots exist (at least 1) */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`The concurrency limit must be a positive integer (received ${limit}).`);
  }

  /** Slots in use. */
  get active(): number {
    return this.running;
  }

  /** Waiters in the queue. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is free. */
  acquire(): Promise<Release> {
    return new Promise((grant) => {
      if (this.running < this.limit) {
        this.running++;
        grant(this.releaser());
      } else {
        this.waiting.push({ grant });
      }
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next !== undefined) next.grant(this.releaser());
      else this.running--;
    };
  }
}
