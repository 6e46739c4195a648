/**
 * The vSphere client against rehost's vcsim: TLS trust, login errors, re-login, the estate,
 * changed-block tracking with QueryChangedDiskAreas, snapshot hygiene and power.
 */
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError, textWithFieldNames, withFieldNames } from "../../lib/problems";
import { connectVSphere, VSphereFault, type VSphereClient } from "../../lib/vsphere";
import { PASSWORD, putDatastoreFile, soap, STANDARD_ESTATE, startVcsim, USER, type Vcsim } from "./harness";

const MiB = 1024 * 1024;
let sim: Vcsim;
let vc: VSphereClient;

beforeAll(async () => {
  // A 1 MiB answer window makes every QueryChangedDiskAreas of a 16 MiB disk take 16 calls.
  sim = await startVcsim(STANDARD_ESTATE, { cbtWindow: MiB });
  vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
  // The first run on a machine builds the simulator (about 20 s, more on a loaded machine).
}, 300_000);

afterAll(async () => {
  await vc?.logout();
  await sim?.stop();
});

function inputError(promise: Promise<unknown>): Promise<InputError> {
  return promise.then(
    () => {
      throw new Error("expected an InputError");
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(InputError);
      return err as InputError;
    },
  );
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("connecting", () => {
  it("logs in with the CA file and reports the product", () => {
    expect(vc.about.apiType).toBe("VirtualCenter");
    expect(vc.sessionKey()).toMatch(/./);
  });

  it("accepts a host name or URL without /sdk", async () => {
    const client = await connectVSphere({ url: sim.base, user: USER, password: PASSWORD, ca: sim.ca });
    expect(client.about.apiType).toBe("VirtualCenter");
    await client.logout();
  });

  it("trusts a pinned SHA-1 or SHA-256 thumbprint, in any case and separator", async () => {
    for (const thumbprint of [sim.thumbprint, sim.thumbprintSha256.toLowerCase().replace(/:/g, "")]) {
      const client = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, thumbprint });
      expect((await client.findVm("web-01")).name).toBe("web-01");
      await client.logout();
    }
  });

  it("refuses a certificate that does not match the pinned thumbprint", async () => {
    const err = await inputError(connectVSphere({ url: sim.url, user: USER, password: PASSWORD, thumbprint: "00".repeat(32) }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]?.field).toBe("thumbprint");
    expect(err.problems[0]?.received).toBe(sim.thumbprintSha256);
  });

  it("refuses an untrusted certificate without a CA, naming its fingerprint", async () => {
    const err = await inputError(connectVSphere({ url: sim.url, user: USER, password: PASSWORD }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]?.field).toBe("ca");
    expect(err.problems[0]?.message).toContain("not trusted");
    expect(err.problems[0]?.received).toContain(sim.thumbprintSha256);
  });

  it("names the options the caller's way when asked: the CLI's flags, the providers' settings", async () => {
    const err = await inputError(connectVSphere({ url: sim.url, user: USER, password: PASSWORD }));
    expect(err.problems[0]?.fix).toMatch(/^pass `ca` FILE .*, or `thumbprint` [0-9A-F:]+ after checking it, or `insecure` for a lab$/);
    const named = withFieldNames(err, { ca: "--ca", thumbprint: "--thumbprint", insecure: "--insecure" }) as InputError;
    expect(named).toBeInstanceOf(InputError);
    expect(named.problems[0]?.field).toBe("--ca");
    expect(named.problems[0]?.fix).toMatch(/^pass --ca FILE .*, or --thumbprint [0-9A-F:]+ after checking it, or --insecure for a lab$/);
    expect(named.message).toContain("field --ca:");
    expect(textWithFieldNames("use `ca` or `thumbprint`, not `other`", { ca: "REHOST_VCENTER_CA_FILE" })).toBe(
      "use REHOST_VCENTER_CA_FILE or `thumbprint`, not `other`",
    );
    const other = new Error("not an input error");
    expect(withFieldNames(other, { ca: "--ca" })).toBe(other);
  });

  it("connects without verification when insecure, and warns", async () => {
    const warnings: string[] = [];
    const client = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, insecure: true, warn: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("(`insecure`)");
    await client.logout();
  });

  it("reports a wrong password as one problem on user", async () => {
    const err = await inputError(connectVSphere({ url: sim.url, user: USER, password: "wrong", ca: sim.ca }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]?.field).toBe("user");
    expect(err.problems[0]?.message).toContain("refused the login");
  });

  it("reports an unreachable vCenter as one problem on url", async () => {
    const port = await closedPort();
    const err = await inputError(connectVSphere({ url: `https://127.0.0.1:${port}`, user: USER, password: PASSWORD, ca: sim.ca }));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]?.field).toBe("url");
    expect(err.problems[0]?.received).toContain("ECONNREFUSED");
  });

  it("takes the password from REHOST_VCENTER_PASSWORD, and says so when it is missing", async () => {
    const saved = process.env.REHOST_VCENTER_PASSWORD;
    try {
      delete process.env.REHOST_VCENTER_PASSWORD;
      const err = await inputError(connectVSphere({ url: sim.url, user: USER, ca: sim.ca }));
      expect(err.problems[0]?.field).toBe("password");
      process.env.REHOST_VCENTER_PASSWORD = PASSWORD;
      const client = await connectVSphere({ url: sim.url, user: USER, ca: sim.ca });
      await client.logout();
    } finally {
      if (saved === undefined) delete process.env.REHOST_VCENTER_PASSWORD;
      else process.env.REHOST_VCENTER_PASSWORD = saved;
    }
  });

  it("logs in again when its session was terminated", async () => {
    const client = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    const first = client.sessionKey();
    const admin = await soap(
      sim,
      `<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>${USER}</userName><password>${PASSWORD}</password></Login>`,
    );
    const terminated = await soap(
      sim,
      `<TerminateSession xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><sessionId>${first}</sessionId></TerminateSession>`,
      admin.cookie,
    );
    expect(terminated.status).toBe(200);
    const inventory = await client.inventory();
    expect(inventory.vms.map((v) => v.name)).toContain("web-01");
    expect(client.sessionKey()).not.toBe(first);
    await client.logout();
  });
});

describe("estate and inventory", () => {
  it("lists every VM with disks, NICs, IPs, power state and folder", async () => {
    const estate = await vc.estate();
    const vms = Object.fromEntries(estate.inventory.vms.map((v) => [v.name, v]));
    expect(Object.keys(vms).sort()).toEqual(["batch-01", "db-01", "web-01", "web-02"]);

    const web1 = vms["web-01"]!;
    expect(web1).toMatchObject({ cpus: 2, memoryMiB: 4096, folder: "prod/web", powerState: "poweredOn", guestOs: { family: "linux", id: "rhel7_64Guest" } });
    expect(web1.disks).toEqual([
      expect.objectContaining({
        key: 2000,
        label: "Hard disk 1",
        capacityBytes: 16 * MiB,
        datastore: "LocalDS_0",
        controller: "pvscsi",
        backing: "flat",
        fileName: "[LocalDS_0] web-01/web-01.vmdk",
      }),
    ]);
    expect(web1.nics.map((n) => [n.portgroup, n.adapter, n.ipv4])).toEqual([
      ["web", "vmxnet3", ["10.1.1.10"]],
      ["db", "e1000e", ["10.1.2.10", "10.1.2.11"]],
    ]);
    expect(web1.nics[0]?.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

    expect(vms["web-02"]).toMatchObject({ firmware: "efi", guestOs: { family: "windows" } });
    expect(vms["web-02"]!.disks.map((d) => d.capacityBytes)).toEqual([8 * MiB, 4 * MiB]);
    expect(vms["db-01"]!.disks.map((d) => [d.key, d.backing, d.controller])).toEqual([
      [2000, "flat", "lsilogic"],
      [2001, "rdm-physical", "lsilogic"],
      [2002, "independent", "lsilogic"],
    ]);
    expect(vms["batch-01"]).toMatchObject({ powerState: "poweredOff", nics: [expect.objectContaining({ portgroup: "db", ipv4: [] })] });
    expect(vms["batch-01"]!.folder).toBeUndefined();
    expect(estate.inventory.networks).toEqual([]);

    expect(estate.portgroups).toEqual(
      expect.arrayContaining([
        { name: "web", distributed: true, vlan: 101 },
        { name: "db", distributed: true, vlan: 102 },
        { name: "VM Network", distributed: false },
      ]),
    );
    expect(estate.portgroups.some((p) => p.name.includes("DVUplinks"))).toBe(false);
    expect(estate.hosts.length).toBeGreaterThan(0);
    expect(estate.datastores.map((d) => d.name)).toEqual(["LocalDS_0"]);
  });

  it("reads the VMs' vSphere tags through the vAPI endpoint, as name and Category:name", async () => {
    const vms = Object.fromEntries((await vc.inventory()).vms.map((v) => [v.name, v.tags]));
    expect(vms).toEqual({
      "batch-01": [],
      "db-01": [],
      "web-01": ["Migration:wave-1", "Tier:gold", "gold", "wave-1"],
      "web-02": ["Migration:wave-1", "wave-1"],
    });
  });

  it("follows continuation tokens when vCenter pages the estate", async () => {
    const paged = await startVcsim(STANDARD_ESTATE, { pageSize: 3 });
    const client = await connectVSphere({ url: paged.url, user: USER, password: PASSWORD, ca: paged.ca });
    try {
      const [all, pagedEstate] = [await vc.estate(), await client.estate()];
      // Same VMs, disks, NICs and tags; only managed object ids and MACs differ between simulators.
      const shape = (e: typeof all) => e.inventory.vms.map((v) => ({ ...v, uuid: "", nics: v.nics.map((n) => ({ ...n, mac: "" })) }));
      expect(pagedEstate.inventory.vms.length).toBe(4);
      expect(shape(pagedEstate)).toEqual(shape(all));
      expect(pagedEstate.portgroups).toEqual(all.portgroups);
      expect(pagedEstate.datastores.map((d) => d.name)).toEqual(all.datastores.map((d) => d.name));
    } finally {
      await client.logout();
      await paged.stop();
    }
  });

  it("with a vAPI endpoint but no tags at all, lists the VMs without tags and no warning", async () => {
    const untagged = await startVcsim({ vms: [{ name: "solo", disks: [{ capacityMiB: 4 }] }] });
    const warnings: string[] = [];
    const client = await connectVSphere({ url: untagged.url, user: USER, password: PASSWORD, ca: untagged.ca, warn: (m) => warnings.push(m) });
    try {
      expect((await client.inventory()).vms.map((v) => [v.name, v.tags])).toEqual([["solo", []]]);
      expect(warnings).toEqual([]);
    } finally {
      await client.logout();
      await untagged.stop();
    }
  });

  it("without a vAPI endpoint (an ESXi host), lists the VMs without tags and warns once", async () => {
    const bare = await startVcsim({ vms: [{ name: "solo", disks: [{ capacityMiB: 4 }], tags: ["Migration:wave-1"] }] }, { vapi: false });
    const warnings: string[] = [];
    const client = await connectVSphere({ url: bare.url, user: USER, password: PASSWORD, ca: bare.ca, warn: (m) => warnings.push(m) });
    try {
      const inventory = await client.inventory();
      expect(inventory.vms.map((v) => [v.name, v.tags])).toEqual([["solo", []]]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/vSphere tags were not read: .*no vAPI endpoint.*by name or folder/);
    } finally {
      await client.logout();
      await bare.stop();
    }
  });

  it("reports the disks that cannot be replicated, with the reason", async () => {
    const disks = await vc.unreplicableDisks();
    expect(disks.map((d) => [d.vm, d.diskKey, d.backing])).toEqual([
      ["db-01", 2001, "rdm-physical"],
      ["db-01", 2002, "independent"],
    ]);
    expect(disks[0]?.reason).toContain("raw device mapping");
    expect(await vc.unreplicableDisks("web-01")).toEqual([]);
  });

  it("finds a VM by name, BIOS UUID, instance UUID or managed object id, and names a missing one", async () => {
    const vm = await vc.findVm("web-02");
    expect((await vc.findVm(vm.uuid.toUpperCase())).moref).toBe(vm.moref);
    expect((await vc.findVm(vm.instanceUuid!)).moref).toBe(vm.moref);
    expect((await vc.findVm(vm.moref)).name).toBe("web-02");
    const err = await inputError(vc.findVm("no-such-vm"));
    expect(err.problems[0]?.vm).toBe("no-such-vm");
  });
});

describe("changed-block tracking", () => {
  it("returns exactly the changed 64 KiB blocks between two snapshots, across partial answers", async () => {
    const vm = await vc.findVm("web-01");
    expect(await vc.enableChangeTracking(vm)).toBe(true);
    expect(await vc.enableChangeTracking(vm)).toBe(false);

    const disk = Buffer.alloc(16 * MiB);
    disk.fill(0x11, 1 * MiB, 3 * MiB);
    disk.fill(0x22, 15 * MiB + 100, 15 * MiB + 200);
    await putDatastoreFile(sim, "web-01/web-01-flat.vmdk", disk);
    const first = await vc.createSnapshot(vm, "rehost-round-1");
    const all = await vc.queryChangedDiskAreas(vm, first, 2000, "*");
    expect(all.extents).toEqual([
      { offset: 1 * MiB, length: 2 * MiB },
      { offset: 15 * MiB, length: 64 * 1024 },
    ]);
    expect(all.capacityBytes).toBe(16 * MiB);
    expect(await vc.snapshotChangeId(first, 2000)).toBe(all.changeId);

    disk.fill(0x33, 5 * MiB + 10, 5 * MiB + 20);
    disk.fill(0x44, 8 * MiB - 1, 9 * MiB + 1);
    await putDatastoreFile(sim, "web-01/web-01-flat.vmdk", disk);
    const second = await vc.createSnapshot(vm, "rehost-round-2");
    const delta = await vc.queryChangedDiskAreas(vm, second, 2000, all.changeId);
    expect(delta.extents).toEqual([
      { offset: 5 * MiB, length: 64 * 1024 },
      { offset: 8 * MiB - 64 * 1024, length: MiB + 2 * 64 * 1024 },
    ]);
    expect(delta.changeId).not.toBe(all.changeId);

    const unchanged = await vc.queryChangedDiskAreas(vm, second, 2000, delta.changeId);
    expect(unchanged.extents).toEqual([]);

    await expect(vc.queryChangedDiskAreas(vm, second, 2000, "52 00/99")).rejects.toSatisfy(
      (e: unknown) => e instanceof VSphereFault && e.faultName === "InvalidArgument",
    );
    await vc.removeSnapshot(second);
    await vc.removeSnapshot(first);
  });

  it("refuses to enable tracking on a VM with snapshots unless allowed", async () => {
    const vm = await vc.findVm("web-02");
    const made = await soap(
      sim,
      `<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>${USER}</userName><password>${PASSWORD}</password></Login>`,
    );
    const user = await soap(
      sim,
      `<CreateSnapshot_Task xmlns="urn:vim25"><_this type="VirtualMachine">${vm.moref}</_this><name>before-patch</name><memory>false</memory><quiesce>false</quiesce></CreateSnapshot_Task>`,
      made.cookie,
    );
    expect(user.status).toBe(200);
    const err = await inputError(vc.enableChangeTracking(vm));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatchObject({ vm: "web-02", field: "snapshot" });
    expect(err.problems[0]?.received).toContain("before-patch");
    expect(await vc.enableChangeTracking(vm, { allowSnapshots: true })).toBe(true);
  });

  it("says when a snapshot carries no changeId because tracking was off", async () => {
    const vm = await vc.findVm("batch-01");
    const snap = await vc.createSnapshot(vm, "rehost-untracked");
    const err = await inputError(vc.queryChangedDiskAreas(vm, snap, 2000, "*"));
    expect(err.problems[0]?.field).toBe("changeTrackingEnabled");
    await vc.removeSnapshot(snap);
  });
});

describe("snapshot hygiene", () => {
  it("lists and removes only the snapshots rehost left behind", async () => {
    const left = await vc.createSnapshot("batch-01", "rehost-round-7");
    const all = await vc.listSnapshots();
    expect(all.map((s) => [s.vm, s.name, s.createdByRehost])).toEqual(
      expect.arrayContaining([
        ["web-02", "before-patch", false],
        ["batch-01", "rehost-round-7", true],
      ]),
    );
    const removed = await vc.removeLeftoverSnapshots();
    expect(removed.map((s) => s.moref)).toEqual([left.moref]);
    const after = await vc.listSnapshots();
    expect(after.map((s) => s.name)).toEqual(["before-patch"]);
    expect(await vc.listSnapshots({ onlyRehost: true })).toEqual([]);
  });
});

describe("power", () => {
  it("shuts a guest down, falls back to power-off, and powers back on", async () => {
    expect(await vc.powerState("web-01")).toBe("poweredOn");
    expect(await vc.shutdownGuest("web-01", { timeoutMs: 10_000 })).toBe("guest-shutdown");
    expect(await vc.powerState("web-01")).toBe("poweredOff");

    // web-02's guest ignores the request: powered off once the timeout passes.
    expect(await vc.shutdownGuest("web-02", { timeoutMs: 1000 })).toBe("powered-off");
    expect(await vc.powerState("web-02")).toBe("poweredOff");

    // db-01 has no VMware Tools running: powered off at once.
    expect(await vc.shutdownGuest("db-01", { timeoutMs: 60_000 })).toBe("powered-off");
    expect(await vc.powerState("db-01")).toBe("poweredOff");

    expect(await vc.shutdownGuest("batch-01", { timeoutMs: 1000 })).toBe("already-off");

    await vc.powerOn("web-01");
    await vc.powerOn("web-01");
    expect(await vc.powerState("web-01")).toBe("poweredOn");
    await vc.powerOff("web-01");
    expect(await vc.powerState("web-01")).toBe("poweredOff");
  });
});
