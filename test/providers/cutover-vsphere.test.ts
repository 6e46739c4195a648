import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../lib/agent";
import { ProcessGroup } from "../../lib/lab/processes";
import type { InputError } from "../../lib/problems";
import { ProviderCredentials } from "../../lib/providers/credentials";
import { digest } from "../../lib/replication";
import { connectVSphere, type VSphereClient } from "../../lib/vsphere";
import { makeRawDisk, makeTarget, serveRaw, startTestAgent } from "../agent/fixtures";
import { PASSWORD, startVcsim, USER, type Vcsim } from "../vsphere/harness";
import { tempDir } from "../helpers/tmp";

describe("Cutover through vSphere (vcsim)", () => {
  const dir = tempDir("rehost-cutover-vc-");
  const group = new ProcessGroup();
  const saved = { ...process.env };
  let sim: Vcsim;
  let vc: VSphereClient;
  let agent: RunningAgent;
  let providers: typeof import("../../lib/providers");
  let uri: string;
  const target = path.join(dir, "target.raw");

  beforeAll(async () => {
    sim = await startVcsim({ vms: [{ name: "app-01", powerState: "poweredOn", guestShutdown: "ok", disks: [{ capacityMiB: 8 }] }] });
    vc = await connectVSphere({ url: sim.url, user: USER, password: PASSWORD, ca: sim.ca });
    makeRawDisk(path.join(dir, "source.raw"), 8, 4, "vc");
    makeTarget(target, 8);
    uri = await serveRaw(group, path.join(dir, "source.raw"), path.join(dir, "source.sock"));
    let token: string;
    ({ agent, token } = await startTestAgent(dir, [target]));
    Object.assign(process.env, {
      REHOST_AGENT_TOKEN: token,
      REHOST_AGENT_FINGERPRINT: agent.fingerprint,
      REHOST_VCENTER_URL: sim.url,
      REHOST_VCENTER_USER: USER,
      REHOST_VCENTER_PASSWORD: PASSWORD,
      REHOST_VCENTER_CA_FILE: sim.ca,
    });
    providers = require("../../lib/providers");
  }, 300_000);

  afterAll(async () => {
    process.env = saved;
    await vc?.logout().catch(() => undefined);
    await agent?.close();
    await group.stopAll();
    await sim?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("names the setting to fix when vCenter cannot be trusted, not a flag", async () => {
    const credentials = new ProviderCredentials(
      { get: () => undefined },
      { REHOST_VCENTER_URL: sim.url, REHOST_VCENTER_USER: USER, REHOST_VCENTER_PASSWORD: PASSWORD },
    );
    const err = await credentials.vsphere().then(
      () => undefined,
      (e: unknown) => e,
    );
    // The providers require() their modules, so the class is not this file's InputError.
    expect((err as Error).name).toBe("InputError");
    const [p] = (err as InputError).problems;
    expect(p?.field).toBe("rehost:vcenterCaFile or REHOST_VCENTER_CA_FILE");
    expect(p?.fix).toContain("pass rehost:vcenterCaFile or REHOST_VCENTER_CA_FILE FILE");
    expect(p?.fix).toContain("or rehost:vcenterThumbprint or REHOST_VCENTER_THUMBPRINT ");
    expect(p?.fix).not.toContain("--");
  });

  it("shuts the source down through vSphere, verifies, and powers it on again only on an explicit rollback", async () => {
    const repl = providers.replicationProvider;
    const created = await repl.create(
      (await repl.check!({}, { agentUrl: agent.url, jobId: "app-01-disk-2000", source: uri, target, pollSeconds: 0.1, waitForInitialSync: true })).inputs,
    );
    expect(created.outs.lastRound).toBe(0);
    expect(await vc.powerState("app-01")).toBe("poweredOn");

    const checked = await providers.cutoverProvider.check!({}, { agentUrl: agent.url, vm: "app-01", jobIds: ["app-01-disk-2000"], round: 1, pollSeconds: 0.1 });
    expect(checked.failures).toEqual([]);
    const cutover = await providers.cutoverProvider.create(checked.inputs);
    expect(cutover.outs.shutdown).toBe("guest-shutdown");
    expect(await vc.powerState("app-01")).toBe("poweredOff");
    const sourceDigest = (await digest(uri)).digest;
    expect(cutover.outs.digests["app-01-disk-2000"]).toMatchObject({ source: sourceDigest, target: sourceDigest });

    // Deleting a Cutover (a replacement, a phase set back) leaves the source off: the migrated
    // host may be running with the same IP.
    await providers.cutoverProvider.delete!("app-01-cutover", cutover.outs);
    expect(await vc.powerState("app-01")).toBe("poweredOff");
    // A rollback is asked for explicitly; twice is harmless.
    await providers.cutoverProvider.delete!("app-01-cutover", { ...cutover.outs, rollbackOnDelete: true });
    expect(await vc.powerState("app-01")).toBe("poweredOn");
    await providers.cutoverProvider.delete!("app-01-cutover", { ...cutover.outs, rollbackOnDelete: true });
    expect(await vc.powerState("app-01")).toBe("poweredOn");
  });
});
