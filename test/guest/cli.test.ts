import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { adaptOptionsFromPlan, validateAdaptOptions } from "../../lib/guest";
import type { PlannedVm } from "../../lib/plan/types";
import { rehostSync } from "../helpers/cli";
import { tempDir } from "../helpers/tmp";

const rehost = (...args: string[]) => rehostSync(["adapt", ...args]);

const vm: PlannedVm = {
  name: "app-01",
  uuid: "4210a1b2-0000-4000-8000-000000000001",
  ips: ["10.1.1.20", "10.1.1.21", "10.1.2.20", "10.1.2.21", "10.1.2.22"],
  nics: [
    { mac: "00:50:56:a1:0b:30", portgroup: "db", subnet: "10.1.2.0/25", ips: ["10.1.2.20", "10.1.2.21", "10.1.2.22"], primary: false },
    { mac: "00:50:56:a1:0b:20", portgroup: "app", subnet: "10.1.1.0/24", ips: ["10.1.1.20", "10.1.1.21"], primary: true },
  ],
  keepIp: true,
  instanceType: "ecs.g7.large",
  cpus: 2,
  memoryMiB: 8192,
  guestOs: { family: "linux", id: "rhel8_64Guest" },
  firmware: "bios",
  disks: [],
  gateway: "wave-1-gw-1",
};

describe("adapt options from the plan and the command line", () => {
  it("maps the primary NIC to eth0, keeps every address after a NIC's first as a secondary, and each NIC's first as its primary", () => {
    expect(adaptOptionsFromPlan(vm)).toEqual({
      nicCount: 2,
      staticSecondary: [
        { device: "eth0", address: "10.1.1.21", prefixLength: 24 },
        { device: "eth1", address: "10.1.2.21", prefixLength: 25 },
        { device: "eth1", address: "10.1.2.22", prefixLength: 25 },
      ],
      nicAddresses: [
        { device: "eth0", address: "10.1.1.20", prefixLength: 24 },
        { device: "eth1", address: "10.1.2.20", prefixLength: 25 },
      ],
    });
  });

  it("reports every bad option at once", () => {
    const problems = validateAdaptOptions("/nonexistent/disk.raw", {
      dataDisks: ["/nonexistent/data.raw"],
      staticSecondary: [
        { address: "10.1.1.300", prefixLength: 24 },
        { device: "ens192", address: "10.1.1.21", prefixLength: 33 },
        { device: "eth0", address: "10.1.1.22", prefixLength: 24 },
        { address: "10.1.1.22", prefixLength: 24 },
      ],
      nicCount: 0,
      virtioWin: "/nonexistent/virtio-win.iso",
      firstBootService: "/nonexistent/rhsrvany.exe",
      nicAddresses: [
        { device: "eth0", address: "10.1.1.20", prefixLength: 24 },
        { device: "eth0", address: "10.1.1.23", prefixLength: 24 },
        { device: "nic1", address: "10.1.1", prefixLength: 24 },
      ],
    });
    expect(problems.map((p) => p.field)).toEqual([
      "disk",
      "dataDisks[0]",
      "virtioWin",
      "firstBootService",
      "nicAddresses[1]",
      "nicAddresses[2].address",
      "nicAddresses[2].device",
      "staticSecondary[0].address",
      "staticSecondary[1].prefixLength",
      "staticSecondary[1].device",
      "staticSecondary[3]",
      "nicCount",
    ]);
  });

  it("rehost adapt exits 2 with one line per problem and leaves the disk untouched", () => {
    const dir = tempDir("rehost-adapt-cli-");
    try {
      const disk = path.join(dir, "disk.raw");
      fs.writeFileSync(disk, Buffer.alloc(4096));
      const plan = path.join(dir, "plan.json");
      fs.writeFileSync(plan, JSON.stringify({ version: 1, waves: [{ name: "w1", vms: [vm] }] }));
      const r = rehost(disk, "--plan", plan, "--vm", "db-09", "--secondary", "eth0:10.1.1.21", "--format", "vmdk");
      expect(r.status).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(3);
      expect(lines[0]).toContain("VM db-09, field --vm: The plan has no such VM");
      expect(lines[1]).toContain("field --secondary[0]: A --secondary value is malformed (received eth0:10.1.1.21");
      expect(lines[2]).toContain("field --format: The image format is not supported (received vmdk");
      expect(fs.readFileSync(disk).equals(Buffer.alloc(4096))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
