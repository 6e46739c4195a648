/** Progress of a sync or a digest: bytes done of a total, a smoothed rate and an ETA. */

/** One progress report. */
export interface SyncProgress {
  /** `plan` (listing extents), `copy`, `flush`, `done`; `digest` for verification. */
  readonly phase: string;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  /** Bytes per second, smoothed over the last few seconds. */
  readonly rate: number;
  /** Seconds left at the current rate (0 when unknown or done). */
  readonly etaSeconds: number;
}

/** How often a meter reports while work is running. */
const REPORT_INTERVAL_MS = 250;
/** The smoothing time constant of the rate, in seconds. */
const RATE_WINDOW_SECONDS = 3;

/** Accumulates bytes done and calls `onProgress` at most every 250 ms (and on every phase change). */
export class ProgressMeter {
  bytesDone = 0;
  bytesTotal = 0;
  private phase = "plan";
  private rate = 0;
  private lastSampleTime = performance.now();
  private lastSampleBytes = 0;
  private lastReport = 0;

  constructor(private readonly onProgress?: (p: SyncProgress) => void) {}

  /** Enters a phase and reports it. */
  setPhase(phase: string): void {
    this.phase = phase;
    this.report(true);
  }

  /** Adds bytes done; reports when the interval has passed. */
  add(bytes: number): void {
    this.bytesDone += bytes;
    this.report(false);
  }

  /** The current report. */
  snapshot(): SyncProgress {
    this.sample();
    const left = Math.max(0, this.bytesTotal - this.bytesDone);
    return {
      phase: this.phase,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      rate: Math.round(this.rate),
      etaSeconds: this.rate > 0 && left > 0 ? Math.round((left / this.rate) * 10) / 10 : 0,
    };
  }

  private report(force: boolean): void {
    if (this.onProgress === undefined) return;
    const now = performance.now();
    if (!force && now - this.lastReport < REPORT_INTERVAL_MS) return;
    this.lastReport = now;
    this.onProgress(this.snapshot());
  }

  private sample(): void {
    const now = performance.now();
    const seconds = (now - this.lastSampleTime) / 1000;
    if (seconds < 0.05) return;
    const instant = (this.bytesDone - this.lastSampleBytes) / seconds;
    const weight = this.rate === 0 ? 1 : 1 - Math.exp(-seconds / RATE_WINDOW_SECONDS);
    this.rate += (instant - this.rate) * weight;
    this.lastSampleTime = now;
    this.lastSampleBytes = this.bytesDone;
  }
}
