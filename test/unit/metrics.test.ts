/** The Prometheus text writer (`lib/service/metrics.ts`): HELP and TYPE per family, escaped labels and help, refused names. */
import { describe, expect, it } from "vitest";
import { RoundCounters } from "../../lib/proxy/metrics";
import { renderMetrics } from "../../lib/service/metrics";
import { LAB_WEB_01 } from "../proxy/lab-rounds";

describe("renderMetrics", () => {
  it("writes HELP and TYPE before the samples, with escaped label values", () => {
    const text = renderMetrics([
      { name: "rehost_proxy_vms", help: "VMs the proxy replicates.", type: "gauge", samples: [{ value: 2 }] },
      {
        name: "rehost_proxy_link_bytes_total",
        help: "Bytes\\of frames\nsent.",
        type: "counter",
        samples: [
          { labels: { vm: 'web "01"\\a\nb', disk: 2000 }, value: 1.5e9 },
          { labels: { vm: "db-01", disk: 2000 }, value: NaN },
        ],
      },
    ]);
    expect(text).toBe(
      [
        "# HELP rehost_proxy_vms VMs the proxy replicates.",
        "# TYPE rehost_proxy_vms gauge",
        "rehost_proxy_vms 2",
        "# HELP rehost_proxy_link_bytes_total Bytes\\\\of frames\\nsent.",
        "# TYPE rehost_proxy_link_bytes_total counter",
        'rehost_proxy_link_bytes_total{vm="web \\"01\\"\\\\a\\nb",disk="2000"} 1500000000',
        'rehost_proxy_link_bytes_total{vm="db-01",disk="2000"} NaN',
        "",
      ].join("\n"),
    );
  });
  it("refuses a metric or label name Prometheus would not accept", () => {
    expect(() => renderMetrics([{ name: "rehost-proxy", help: "x", type: "gauge", samples: [] }])).toThrow(/not a Prometheus metric name/);
    expect(() => renderMetrics([{ name: "rehost_x", help: "x", type: "gauge", samples: [{ labels: { "disk-key": 1 }, value: 1 }] }])).toThrow(
      /not a Prometheus label name/,
    );
  });
});

describe("RoundCounters", () => {
  const rounds = LAB_WEB_01.rounds;
  it("counts each round once, from the proxy's start, and again from 0 for a VM registered anew", () => {
    const c = new RoundCounters();
    c.start("lab-web-01", rounds.slice(0, 2)); // rounds 0 and 1 ran before this process
    c.account("lab-web-01", rounds.slice(0, 4));
    c.account("lab-web-01", rounds.slice(0, 4));
    expect(c.disk("lab-web-01", 2000)).toEqual({
      rounds: 2,
      changedBytes: 4063232 + 3211264,
      linkBytes: 4066661 + 2951933,
      hashBytes: 0,
      bytesRead: 51249152 + 40960000,
    });
    c.failed("lab-web-01");
    expect(c.failuresOf("lab-web-01")).toBe(1);
    c.forget("lab-web-01");
    c.account("lab-web-01", rounds.slice(0, 1));
    expect(c.disk("lab-web-01", 2000).rounds).toBe(1);
    expect(c.failuresOf("lab-web-01")).toBe(0);
  });
});
