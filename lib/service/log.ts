/**
 * JSON-lines logging: one object per line with `time`, `level`, `msg` and fields.
 */

/** Severity of a log line. */
type LogLevel = "debug" | "info" | "warn" | "error";

/** A structured logger; `child` adds fields to every line. */
export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** Writes JSON lines to `write` (stdout by default). */
export function jsonLogger(write: (line: string) => void = (l) => process.stdout.write(l), base: Record<string, unknown> = {}): Logger {
  return {
    log(level, msg, fields = {}) {
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields })}\n`);
    },
    child(fields) {
      return jsonLogger(write, { ...base, ...fields });
    },
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { log() {}, child: () => silentLogger };
