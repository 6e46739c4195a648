import { describe, expect, it } from "vitest";
import type { PreviewResult } from "../../lib/preview";
import { renderJson, renderMarkdown, renderText } from "../../lib/preview/render";

const result: PreviewResult = {
  stack: "wave-1",
  resources: [
    { type: "rehost:components:MigratedInstance", name: "w-web", parent: "w", inputs: {} },
    {
      type: "alicloud:ecs/instance:Instance",
      name: "w-web-instance",
      parent: "w-web",
      inputs: { privateIp: "10.1.1.21", vswitchId: "vsw-id", instanceType: "ecs.g7.large", dataDisks: [{ size: 100 }, { size: 20 }] },
    },
    { type: "alicloud:ecs/instance:Instance", name: "w-db-instance", parent: "w-db", inputs: { privateIp: "10.1.2.31" } },
  ],
  policyViolations: [
    { policy: "no-public-ip", level: "advisory", resource: "w-db-instance", message: "Instance w-db-instance | has a public IP." },
    { policy: "pinned-ip-in-subnet", level: "mandatory", resource: "w-web-instance", message: "Instance w-web-instance is outside its subnet." },
  ],
  pinnedIps: [{ vm: "web", ip: "10.1.1.21", nic: "primary", vswitch: "lz-web", cidr: "10.1.1.0/24", resource: "w-web-instance", phase: "cutover" }],
  outputs: {},
  referencedStacks: ["landing-zone"],
  recorded: [],
};

describe("preview renderings", () => {
  it("Markdown puts the violations first, then counts by type, then the IP table", () => {
    const md = renderMarkdown(result);
    const violations = md.indexOf("**Policy violations:** 2 (1 mandatory)");
    const counts = md.indexOf("| `alicloud:ecs/instance:Instance` | 2 |");
    const ips = md.indexOf("| web | 10.1.1.21 | primary | `lz-web` | 10.1.1.0/24 | cutover |");
    expect(violations).toBeGreaterThan(-1);
    expect(counts).toBeGreaterThan(violations);
    expect(ips).toBeGreaterThan(counts);
    // A pipe inside a cell is escaped so the table keeps its columns.
    expect(md).toContain("Instance w-db-instance \\| has a public IP.");
    expect(md).toContain("(reads `landing-zone`)");
  });

  it("JSON is exactly the contract", () => {
    const json = JSON.parse(renderJson({ ...result, recorded: [{ ...result.resources[1]!, custom: true, dependencies: [], id: "x-id" }] }));
    expect(Object.keys(json)).toEqual(["stack", "resources", "policyViolations"]);
    expect(json.resources[1]).toEqual(result.resources[1]);
    expect(json.policyViolations[1]).toEqual(result.policyViolations[1]);
  });

  it("text lists key inputs per resource and the pinned IPs", () => {
    const text = renderText(result);
    expect(text).toMatch(/w-web-instance\s+w-web\s+privateIp=10\.1\.1\.21 vswitchId=vsw-id instanceType=ecs\.g7\.large dataDisks=\[100GiB,20GiB\]/);
    expect(text).toMatch(/^web\s+10\.1\.1\.21\s+primary\s+lz-web\s+10\.1\.1\.0\/24\s+cutover$/m);
    expect(text).toContain("Policy violations (2)");
  });
});
