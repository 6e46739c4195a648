/**
 * Bandwidth limit: a token bucket in bytes per second, and the parser of rates and sizes.
 *
 * One `Throttle` may be shared by several concurrent syncs: they then take their bytes from the
 * same bucket, so their total stays under the rate.
 */
import { InputError, problem } from "../problems";

/** How many seconds of traffic may pass at once after an idle period. */
const DEFAULT_BURST_SECONDS = 0.1;

/** A token bucket: `take(n)` resolves when `n` bytes may pass. Waiters are served in order. */
export class Throttle {
  /** Virtual time (seconds) at which the bytes reserved so far have all passed. */
  private clock = 0;
  private readonly burstSeconds: number;

  /**
   * @param bytesPerSecond - the rate; must be positive.
   * @param burstSeconds - seconds of traffic allowed in one burst. @default - 0.1 s
   */
  constructor(
    readonly bytesPerSecond: number,
    burstSeconds = DEFAULT_BURST_SECONDS,
  ) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond))
      throw new RangeError(`Throttle rate must be a positive number of bytes per second, not ${bytesPerSecond}`);
    this.burstSeconds = burstSeconds;
  }

  /** Reserves `bytes` and waits until they may pass; rejects when `signal` aborts. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now() / 1000;
    this.clock = Math.max(this.clock, now - this.burstSeconds) + bytes / this.bytesPerSecond;
    const wait = this.clock - now;
    if (wait <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(done, wait * 1000);
      function done(): void {
        signal?.removeEventListener("abort", aborted);
        resolve();
      }
      function aborted(): void {
        clearTimeout(timer);
        reject(signal?.reason ?? new Error("aborted"));
      }
      signal?.addEventListener("abort", aborted, { once: true });
    });
  }
}

const UNITS: Record<string, number> = {
  "": 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  KI: 2 ** 10,
  MI: 2 ** 20,
  GI: 2 ** 30,
  TI: 2 ** 40,
};

/**
 * Parses a byte count with an optional unit: `512`, `64K`, `200M`, `1.5G`, `4Mi`, `1GiB`.
 * K, M, G, T are powers of 1000; Ki, Mi, Gi, Ti are powers of 1024; a trailing `B` is allowed.
 * Returns undefined when `text` is not such a number.
 */
export function parseByteCount(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$/i.exec(text);
  if (match === null) return undefined;
  const multiplier = UNITS[(match[2] ?? "").toUpperCase()];
  if (multiplier === undefined) return undefined;
  const value = Math.round(Number(match[1]) * multiplier);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Parses a rate in bytes per second: `200M` is 200,000,000 bytes/s, `50Mi` is 50 × 2^20 bytes/s;
 * an optional `B/s` or `/s` suffix is allowed (`200MB/s`). Throws `InputError` naming `field`.
 */
export function parseRate(text: string, field = "bandwidth"): number {
  const value = parseByteCount(text.replace(/\/s\s*$/i, ""));
  if (value === undefined || value <= 0) {
    throw new InputError(
      problem({
        field,
        received: JSON.stringify(text),
        expected: "a positive rate in bytes per second such as 200M (10^6), 50Mi (2^20) or 1G",
        fix: "write a number followed by K, M, G (powers of 1000) or Ki, Mi, Gi (powers of 1024)",
        message: `The rate ${JSON.stringify(text)} is not a positive number of bytes per second`,
      }),
    );
  }
  return value;
}

/** Parses a positive size (`64M`, `1Mi`); throws `InputError` naming `field`. */
export function parseSize(text: string, field: string): number {
  const value = parseByteCount(text);
  if (value === undefined || value <= 0) {
    throw new InputError(
      problem({
        field,
        received: JSON.stringify(text),
        expected: "a positive size in bytes such as 4Mi, 64M or 1G",
        fix: "write a number followed by K, M, G (powers of 1000) or Ki, Mi, Gi (powers of 1024)",
        message: `The size ${JSON.stringify(text)} is not a positive number of bytes`,
      }),
    );
  }
  return value;
}
