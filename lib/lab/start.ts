/**
 * The lab's first phase: the vCenter simulator with the wave's VMs (their disks built as real
 * images), the agent on the cloud side and the proxy on the on-prem side, the providers configured
 * as a stack would configure them, and the guests' writers started.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { AgentClient } from "../agent/client";
import { ProxyClient } from "../proxy/client";
import { CREDENTIALS, replicationProvider } from "../providers";
import { connectVSphere, type VSphereClient } from "../vsphere";
import { BusinessWriter } from "./business";
import { buildDiskImage, createTargetDisk } from "./images";
import { LAB_USER, startLabAgent, startLabProxy, startLabVcenter, type LabService } from "./services";
import { MiB, type Lab } from "./setup";
import { guestWrite, type EstateSpec, type Vcsim } from "./vcsim";

/** The lab's running services and the clients the phases reach them with. */
export interface LabServices {
  readonly sim: Vcsim;
  readonly vc: VSphereClient;
  readonly agent: LabService;
  readonly proxy: LabService;
  readonly agentClient: AgentClient;
  readonly proxyClient: ProxyClient;
  /** The inputs every provider call of the lab shares. */
  readonly common: { readonly agentUrl: string; readonly pollSeconds: number; readonly timeoutSeconds: number };
}

/** Starts the simulator, builds the disk images and the targets, starts the agent and the proxy and the guests' writes. */
export async function startServices(lab: Lab): Promise<LabServices> {
  const { site, say, wave, disks, workdir, factor, checkAbort } = lab;
  if (site.mode === "loopback") say(`running on 127.0.0.1: ${site.fallback}`);
  else
    say(
      `on-prem and cloud network namespaces ${site.namespaces.join(" and ")} joined by a veth link (${site.host("onprem")} ↔ ${site.host("cloud")}), its bytes counted`,
    );

  // 1. vCenter with the wave's VMs, their disks real images.
  const password = crypto.randomBytes(18).toString("base64url");
  const estate: EstateSpec = {
    vms: wave.vms.map((vm) => ({ name: vm.name, guestShutdown: "ok", disks: vm.disks.map((d) => ({ capacityMiB: (d.sizeBytes * factor) / MiB })) })),
  };
  const sim = await startLabVcenter(site, estate, workdir, password);
  lab.simulator = sim;
  const vc = await connectVSphere({ url: sim.url, user: LAB_USER, password, ca: sim.ca });
  say(`vCenter simulator at ${sim.base} with ${wave.vms.length} VMs; building ${disks.length} disk images (×${factor})`);
  const queue = [...disks];
  const builder = async (): Promise<void> => {
    for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
      checkAbort();
      const file = (await vc.diskFiles(await vc.findVm(d.vm.name))).find((f) => f.key === d.planned.key)!;
      await buildDiskImage(
        {
          image: path.join(sim.datastores[file.datastore], file.flatPath),
          capacityBytes: d.sizeBytes,
          dataBytes: Math.min(Math.round(d.planned.allocatedBytes * 0.85), d.planned.sizeBytes - 24 * MiB),
          label: d.planned.role === "system" ? "root" : "data",
          role: d.planned.role,
          hostname: d.vm.name,
          ips: d.vm.ips,
        },
        path.join(workdir, "scratch"),
      );
      createTargetDisk(d.target, d.sizeBytes);
    }
  };
  await Promise.all([builder(), builder()]);

  // 2. The agent (cloud), the proxy (on-prem), the providers configured as a stack would.
  const agent = await startLabAgent(
    site,
    workdir,
    disks.map((d) => d.target),
  );
  const proxy = await startLabProxy(site, workdir, sim, password, agent);
  const agentToken = fs.readFileSync(agent.tokenFile, "utf8").trim();
  const proxyToken = fs.readFileSync(proxy.tokenFile, "utf8").trim();
  const labConfig: Record<string, string> = {
    [CREDENTIALS.agentToken.config]: agentToken,
    [CREDENTIALS.agentFingerprint.config]: agent.fingerprint,
    [CREDENTIALS.proxyToken.config]: proxyToken,
    [CREDENTIALS.proxyFingerprint.config]: proxy.fingerprint,
  };
  await replicationProvider.configure!({ config: { get: (key: string) => labConfig[key] } } as pulumi.dynamic.ConfigureRequest);
  const agentClient = new AgentClient({ url: agent.url, token: agentToken, fingerprint: agent.fingerprint });
  const proxyClient = new ProxyClient({ url: proxy.url, token: proxyToken, fingerprint: proxy.fingerprint });
  say(`agent ${agent.url} (cloud), proxy ${proxy.url} (on-prem); the guests write all along`);
  for (const d of disks) {
    d.writer = new BusinessWriter(d.jobId, d.sizeBytes, (offset, data) => guestWrite(sim, d.vm.name, d.planned.key, offset, data));
    d.writer.start();
  }
  const common = { agentUrl: agent.url, pollSeconds: 0.2, timeoutSeconds: 600 };
  return { sim, vc, agent, proxy, agentClient, proxyClient, common };
}
