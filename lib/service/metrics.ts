/**
 * `GET /metrics` of the agent and the proxy: the Prometheus text exposition format (version
 * 0.0.4): per family one `# HELP` and one `# TYPE` line, then its samples, label values escaped.
 * Served behind the services' bearer token (Prometheus: `authorization: { credentials_file: … }`).
 */
import type { ServerResponse } from "node:http";

/** The content type Prometheus expects of the text format. */
const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** One sample: its labels and value. */
export interface Sample {
  readonly labels?: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/** A metric family: a name (`rehost_proxy_link_bytes_total`), its help, its type and its samples. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const escapeHelp = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** The families in the text format, one family after the other. */
export function renderMetrics(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`Metric name ${JSON.stringify(f.name)} is not a Prometheus metric name.`);
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels ?? {});
      for (const [k] of labels) if (!LABEL.test(k)) throw new Error(`Label name ${JSON.stringify(k)} of ${f.name} is not a Prometheus label name.`);
      const text = labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(",")}}`;
      lines.push(`${f.name}${text} ${formatValue(s.value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Sends the families as a `/metrics` answer. */
export function sendMetrics(res: ServerResponse, families: readonly MetricFamily[]): void {
  const data = Buffer.from(renderMetrics(families));
  res.writeHead(200, { "Content-Type": METRICS_CONTENT_TYPE, "Content-Length": data.length, "Cache-Control": "no-store" });
  res.end(data);
}
