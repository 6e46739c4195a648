import { describe, expect, it } from "vitest";
import { z } from "zod";
import { formatPath, problemsFromZod, renderValue, vmListLocator } from "../../lib/inventory";

describe("problemsFromZod", () => {
  const schema = z.object({
    vms: z.array(
      z.object({
        name: z.string(),
        cpus: z.number().int().positive(),
        state: z.enum(["on", "off"]),
        mac: z.string().regex(/^[0-9a-f:]{17}$/, "a MAC address like 00:50:56:aa:bb:cc"),
        ip: z.ipv4(),
        disks: z.array(z.object({ size: z.number().min(1) })).min(1),
      }),
    ),
    settings: z.object({ region: z.string(), zones: z.array(z.string()).max(2) }),
  });
  const input = {
    vms: [
      { name: "web-01", cpus: 1.5, state: "running", mac: "xx", ip: "1.2.3.400", disks: [{ size: 0 }] },
      { cpus: 1, state: "on", mac: "00:50:56:aa:bb:cc", ip: "1.2.3.4", disks: [] },
    ],
    settings: { zones: ["a", "b", "c"] },
  };

  it("maps each issue to one problem naming file, VM, field, received, expected and a fix", () => {
    const result = schema.safeParse(input);
    expect(result.success).toBe(false);
    const problems = problemsFromZod(result.error!, { file: "inv.yaml", input, vmNameAt: vmListLocator(input) });
    expect(problems.map((p) => [p.vm, p.field, p.received, p.expected])).toEqual([
      ["web-01", "cpus", "1.5", "an integer"],
      ["web-01", "state", '"running"', 'one of "on", "off"'],
      ["web-01", "mac", '"xx"', "a MAC address like 00:50:56:aa:bb:cc"],
      ["web-01", "ip", '"1.2.3.400"', "a dotted IPv4 address like 10.10.1.21"],
      ["web-01", "disks[0].size", "0", "1 or more"],
      ["vms[1]", "name", "nothing (the field is missing)", "a string"],
      ["vms[1]", "disks", "[]", "at least 1 item(s)"],
      [undefined, "settings.region", "nothing (the field is missing)", "a string"],
      [undefined, "settings.zones", '["a","b","c"]', "at most 2 item(s)"],
    ]);
    for (const p of problems) {
      expect(p).toMatchObject({ severity: "error", file: "inv.yaml" });
      expect(p.fix).toBeTruthy();
      expect(p.message).toMatch(/^(Field|The document) /);
    }
  });

  it("prefixes fields when the validated object sits inside a larger file", () => {
    const result = z.object({ port: z.number(), host: z.string() }).safeParse({ port: "x" }, { reportInput: true });
    expect(problemsFromZod(result.error!, { prefix: ["agent"] })).toMatchObject([
      { field: "agent.port", received: '"x"', expected: "a number" },
      { field: "agent.host", received: "nothing (the field is missing)", message: "Field agent.host is required" },
    ]);
  });

  it("tells a missing field from a wrong one even without the input", () => {
    const result = z.object({ port: z.number(), host: z.string() }).safeParse({ port: "x" });
    const [port, host] = problemsFromZod(result.error!);
    expect(port!.received).toBeUndefined();
    expect(port!.message).toBe("Field port has the wrong type");
    expect(host).toMatchObject({ received: "nothing (the field is missing)", message: "Field host is required" });
  });

  it("reports unknown keys of strict objects by name", () => {
    const result = z.strictObject({ keepIp: z.boolean().optional() }).safeParse({ keepIP: false });
    expect(problemsFromZod(result.error!)[0]).toMatchObject({ received: "keepIP", expected: "only the documented keys" });
  });

  it("renders paths and values for people", () => {
    expect(formatPath(["vms", 3, "nics", 0, "ipv4", 1])).toBe("vms[3].nics[0].ipv4[1]");
    expect(renderValue(undefined)).toBe("nothing (the field is missing)");
    expect(renderValue("a")).toBe('"a"');
    // Never cut: --format json carries the value whole.
    expect(renderValue({ long: "x".repeat(100) })).toBe(JSON.stringify({ long: "x".repeat(100) }));
  });
});
