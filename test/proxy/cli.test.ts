/**
 * `rehost proxy` refusing bad input before it serves: unreachable vCenter, wrong credentials, an
 * untrusted certificate, missing files, a VDDK reader without VDDK — exit 2, every problem named,
 * no snapshot left behind.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectVSphere } from "../../lib/vsphere";
import { freePort, tempDir } from "../helpers/nbd-servers";
import { PASSWORD, rehost, startVcsim, USER, type Vcsim } from "../vsphere/harness";

describe("rehost proxy: bad input", () => {
  const dir = tempDir("rehost-proxy-cli-");
  const tokenFile = path.join(dir, "agent-token");
  let sim: Vcsim;
  const base = (vcenter: string, extra: string[] = []): string[] => [
    "proxy",
    "--state",
    path.join(dir, "state"),
    "--listen",
    "127.0.0.1:0",
    "--vcenter",
    vcenter,
    "--user",
    USER,
    "--agent-token-file",
    tokenFile,
    "--agent-fingerprint",
    "AA:BB",
    ...extra,
  ];

  beforeAll(async () => {
    fs.writeFileSync(tokenFile, "token\n");
    sim = await startVcsim({ vms: [{ name: "app-01", disks: [{ capacityMiB: 4 }] }] });
  }, 120_000);
  afterAll(async () => {
    await sim?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("an unreachable vCenter: exit 2, naming --vcenter", async () => {
    const port = await freePort();
    const r = await rehost(base(`https://127.0.0.1:${port}`, ["--insecure"]), { REHOST_VCENTER_PASSWORD: PASSWORD });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/field --vcenter: vCenter cannot be reached at 127\.0\.0\.1:\d+ .*ECONNREFUSED/);
  });

  it("wrong credentials: exit 2, naming --user", async () => {
    const r = await rehost(base(sim.url, ["--ca", sim.ca]), { REHOST_VCENTER_PASSWORD: "wrong" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/field --user: vCenter .* refused the login: wrong user name or password/);
  });

  it("an untrusted certificate: exit 2 with the fingerprint to check", async () => {
    const r = await rehost(base(sim.url), { REHOST_VCENTER_PASSWORD: PASSWORD });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/field --ca: The TLS certificate of .* is not trusted/);
  });

  it("local problems are all listed before vCenter is contacted", async () => {
    const r = await rehost(
      [
        "proxy",
        "--state",
        path.join(dir, "state"),
        "--listen",
        "nowhere",
        "--vcenter",
        sim.url,
        "--user",
        USER,
        "--agent-token-file",
        path.join(dir, "missing"),
        "--reader",
        "vddk",
        "--retry-delay",
        "-1",
      ],
      { REHOST_VCENTER_PASSWORD: PASSWORD },
    );
    expect(r.code).toBe(2);
    for (const field of ["--listen", "--agent-token-file", "--agent-fingerprint", "--vddk-libdir", "--retry-delay"])
      expect(r.stderr).toContain(`field ${field}:`);
  });

  it("a compression level that is no zstd level, a bandwidth that is neither a rate nor a file, a schedule file with a bad window: exit 2, each named", async () => {
    const schedule = path.join(dir, "bandwidth.yaml");
    fs.writeFileSync(schedule, 'windows:\n  - { days: mon-fri, from: "25:00", to: "20:00", rate: 100Mbit }\ngateways:\n  "ftp://gw": { default: 10M }\n');
    const bad = await rehost(base(sim.url, ["--ca", sim.ca, "--compression-level", "42", "--bandwidth", "fast"]), { REHOST_VCENTER_PASSWORD: PASSWORD });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/field --compression-level: .*42.*not a zstd level/);
    expect(bad.stderr).toMatch(/field --bandwidth: "fast" is neither a rate nor an existing file/);
    const file = await rehost(base(sim.url, ["--ca", sim.ca, "--bandwidth", schedule]), { REHOST_VCENTER_PASSWORD: PASSWORD });
    expect(file.code).toBe(2);
    expect(file.stderr).toContain("field bandwidth.windows[0].from:");
    expect(file.stderr).toContain("field bandwidth.gateways:");
    expect(file.stderr).toContain(schedule);
  });

  it("a VDDK directory without VDDK, or no vddk plugin: exit 2, saying what to install", async () => {
    const libdir = path.join(dir, "vddk");
    fs.mkdirSync(path.join(libdir, "lib64"), { recursive: true });
    const r = await rehost(base(sim.url, ["--ca", sim.ca, "--reader", "vddk", "--vddk-libdir", libdir]), { REHOST_VCENTER_PASSWORD: PASSWORD });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/VDDK is not in .*vddk/);
  });

  it("leaves no snapshot behind", async () => {
    const vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    expect(await vc.listSnapshots({ onlyRehost: true })).toEqual([]);
    await vc.logout();
  });
});
