/**
 * The source proxy's bandwidth: one schedule for the whole proxy (every stream of the wave it
 * pushes) and, optionally, one per gateway (per agent URL), each a `Schedule` of `schedule.ts`.
 *
 * ```yaml
 * # the proxy's schedule (timezone, default, windows, blackouts as in schedule.ts)
 * timezone: Asia/Shanghai
 * default: 400Mbit
 * windows:
 *   - { days: mon-fri, from: "08:00", to: "20:00", rate: 100Mbit }
 * gateways:                          # optional: caps of single gateways, under the proxy's
 *   "https://10.30.9.10:8444":
 *     default: 200Mbit
 *     blackouts: [{ days: daily, from: "12:00", to: "13:00" }]
 * ```
 *
 * `--bandwidth` takes that file, or one rate (`200Mbit`, `25M`, `unlimited`) for the whole proxy.
 * A stream of frames takes its bytes from the proxy's throttle and its gateway's (`takeAll`), so
 * it stays under both. `LinkThrottles.watch` re-reads the file when its modification time or size
 * changes (polled, default every second): the new schedules apply at once, to rounds in flight
 * too. A file that no longer parses keeps the schedules in force and is reported.
 */
import * as fs from "node:fs";
import { parse as parseYaml } from "yaml";
import { InputError, problem } from "../problems";
import { readInputFile } from "../service/input-file";
import { ScheduledThrottle } from "./schedule";
import { parseSchedule, type Schedule } from "./schedule-file";

/** The proxy's schedules, validated. */
export interface Bandwidth {
  /** For every stream of the proxy. */
  readonly proxy: Schedule;
  /** Per gateway, by agent URL (without a trailing `/`). */
  readonly gateways: ReadonlyMap<string, Schedule>;
}

const UNLIMITED: Schedule = { timezone: "UTC", default: Infinity, windows: [] };

/** No cap anywhere. */
function unlimitedBandwidth(): Bandwidth {
  return { proxy: UNLIMITED, gateways: new Map() };
}

function gatewayKey(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * Validates the proxy's bandwidth (a schedule with an optional `gateways` map of agent URL to
 * schedule); throws one `InputError` listing every problem, each under `field`.
 */
function parseBandwidth(input: unknown, field = "bandwidth"): Bandwidth {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new InputError(
      problem({
        field,
        received: JSON.stringify(input),
        expected: "a schedule: timezone, default, windows, blackouts and optionally gateways",
        message: "The bandwidth schedule is not an object",
      }),
    );
  }
  const { gateways, ...own } = input as Record<string, unknown>;
  const problems: InputError[] = [];
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (err) {
      if (err instanceof InputError) {
        problems.push(err);
        return undefined;
      }
      throw err;
    }
  };
  const proxy = attempt(() => parseSchedule(own, field));
  const byGateway = new Map<string, Schedule>();
  if (gateways !== undefined) {
    if (gateways === null || typeof gateways !== "object" || Array.isArray(gateways)) {
      problems.push(
        new InputError(
          problem({
            field: `${field}.gateways`,
            received: JSON.stringify(gateways),
            expected: "a map of agent URL (https://HOST:PORT) to a schedule",
            message: "The gateways' schedules are not a map",
          }),
        ),
      );
    } else {
      for (const [url, schedule] of Object.entries(gateways as Record<string, unknown>)) {
        if (!/^https:\/\/[^/\s]+(:\d+)?\/?$/.test(url)) {
          problems.push(
            new InputError(
              problem({
                field: `${field}.gateways`,
                received: JSON.stringify(url),
                expected: "https://HOST:PORT of a sync gateway's agent, as the disks are registered with",
                message: `The gateway ${JSON.stringify(url)} is not an agent URL`,
              }),
            ),
          );
          continue;
        }
        const parsed = attempt(() => parseSchedule(schedule ?? {}, `${field}.gateways["${url}"]`));
        if (parsed !== undefined) byGateway.set(gatewayKey(url), parsed);
      }
    }
  }
  if (problems.length > 0) throw new InputError(problems.flatMap((e) => e.problems));
  return { proxy: proxy!, gateways: byGateway };
}

/** Reads a bandwidth file (YAML or JSON); throws `InputError` naming the file and the field `bandwidth`. */
function loadBandwidthFile(file: string): Bandwidth {
  const field = "bandwidth";
  const text = readInputFile(file, (err) =>
    problem({
      field,
      received: file,
      expected: "a readable schedule file (YAML or JSON)",
      fix: "check the path",
      message: `The bandwidth file cannot be read: ${(err as Error).message}`,
    }),
  );
  let input: unknown;
  try {
    input = parseYaml(text);
  } catch (err) {
    throw new InputError(
      problem({ file, field, expected: "a YAML or JSON schedule", message: `The bandwidth file is not YAML: ${(err as Error).message.split("\n")[0]}` }),
    );
  }
  try {
    return parseBandwidth(input ?? {}, field);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(err.problems.map((p) => ({ ...p, file })));
    throw err;
  }
}

/**
 * The proxy's bandwidth setting (the field `bandwidth`): a rate for the whole proxy (`200Mbit`,
 * `25M`, `unlimited`), or the path of a schedule file. Returns the schedules and, for a file, its
 * path (to watch).
 */
export function bandwidthArgument(value: string): { bandwidth: Bandwidth; file?: string } {
  const field = "bandwidth";
  if (fs.existsSync(value)) return { bandwidth: loadBandwidthFile(value), file: value };
  try {
    return { bandwidth: { proxy: parseSchedule({ default: value }, field), gateways: new Map() } };
  } catch {
    throw new InputError(
      problem({
        field,
        received: value,
        expected: "a rate (200Mbit, 1Gbps, 25M, 50Mi, unlimited) or an existing schedule file",
        fix: "give `bandwidth` a rate such as 200Mbit, or the path of a schedule file such as /etc/rehost/bandwidth.yaml (docs/link.md)",
        message: `${JSON.stringify(value)} is neither a rate nor an existing file`,
      }),
    );
  }
}

/** What a gateway's streams have passed, for the status and the tests. */
export interface ThrottleCounters {
  /** Bytes/s now (Infinity: no cap; 0: blackout). */
  readonly rate: number;
  /** Bytes let through since the proxy started. */
  readonly passed: number;
}

/**
 * The throttles of a proxy: one for all its streams, one per gateway that has a schedule.
 * `throttlesFor(url)` gives a stream what it takes from (nothing when no cap applies).
 */
export class LinkThrottles {
  private readonly proxyThrottle: ScheduledThrottle;
  private readonly gatewayThrottles = new Map<string, ScheduledThrottle>();
  private current: Bandwidth;
  private watcher: NodeJS.Timeout | undefined;

  constructor(bandwidth: Bandwidth = unlimitedBandwidth()) {
    this.current = bandwidth;
    this.proxyThrottle = new ScheduledThrottle(bandwidth.proxy);
    for (const [url, s] of bandwidth.gateways) this.gatewayThrottles.set(url, new ScheduledThrottle(s));
  }

  /** The schedules in force. */
  get bandwidth(): Bandwidth {
    return this.current;
  }

  /** Replaces the schedules; streams in flight (and waiting) follow them at once. */
  set(bandwidth: Bandwidth): void {
    this.current = bandwidth;
    this.proxyThrottle.setSchedule(bandwidth.proxy);
    for (const [url, throttle] of this.gatewayThrottles) throttle.setSchedule(bandwidth.gateways.get(url) ?? UNLIMITED);
    for (const [url, s] of bandwidth.gateways) if (!this.gatewayThrottles.has(url)) this.gatewayThrottles.set(url, new ScheduledThrottle(s));
  }

  /** The throttles a stream to the agent at `url` takes its bytes from: the proxy's and the gateway's. */
  throttlesFor(url: string): ScheduledThrottle[] {
    const gateway = this.gatewayThrottles.get(gatewayKey(url));
    return gateway === undefined ? [this.proxyThrottle] : [this.proxyThrottle, gateway];
  }

  /** The proxy's and each gateway's rate now and bytes passed. */
  counters(): { proxy: ThrottleCounters; gateways: Record<string, ThrottleCounters> } {
    const of = (t: ScheduledThrottle): ThrottleCounters => ({ rate: t.rate, passed: t.passed });
    return { proxy: of(this.proxyThrottle), gateways: Object.fromEntries([...this.gatewayThrottles].map(([url, t]) => [url, of(t)])) };
  }

  /**
   * Re-reads `file` whenever its modification time or size changes (checked every `intervalMs`)
   * and applies it; `onChange` hears of each new schedule or of a file that does not parse (the
   * schedules in force are kept then).
   */
  watch(file: string, onChange: (event: { applied: true; bandwidth: Bandwidth } | { applied: false; error: Error }) => void, intervalMs = 1000): void {
    this.unwatch();
    const stamp = (): string => {
      const st = fs.statSync(file, { throwIfNoEntry: false });
      return st === undefined ? "missing" : `${st.mtimeMs}:${st.size}`;
    };
    let seen = stamp();
    this.watcher = setInterval(() => {
      const now = stamp();
      if (now === seen) return;
      seen = now;
      try {
        const bandwidth = loadBandwidthFile(file);
        this.set(bandwidth);
        onChange({ applied: true, bandwidth });
      } catch (err) {
        onChange({ applied: false, error: err as Error });
      }
    }, intervalMs);
    this.watcher.unref();
  }

  /** Stops watching the file. */
  unwatch(): void {
    if (this.watcher !== undefined) clearInterval(this.watcher);
    this.watcher = undefined;
  }
}

/** A schedule for logs: its rate now and its windows' count. */
export function describeSchedule(schedule: Schedule): { default: number | "unlimited"; windows: number; timezone: string } {
  return { default: schedule.default === Infinity ? "unlimited" : schedule.default, windows: schedule.windows.length, timezone: schedule.timezone };
}
