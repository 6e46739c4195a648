"use strict";
// A plain Node Pulumi program using rehost by package name, with no cloud resources: its "gateway"
// is an agent on this machine, so the Pulumi engine needs no cloud plugin.
//   lab:role wave       a gateway (its agent URL known only once it is created) and one
//                       Replication per disk; lab:phase cutover adds a Cutover per disk
//   lab:role rehearsal  a RehearsalPoint on the wave's gateway, snapshots of its disks, a RehearsalThaw
//   lab:role proxied    a gateway and one Replication per disk of VMs in a vCenter, through the
//                       source proxy at lab:proxyUrl (rounds at lab:rpo); lab:phase cutover adds
//                       a Cutover per VM through the proxy
const pulumi = require("@pulumi/pulumi");
const rehost = require("rehost");

const config = new pulumi.Config("lab");

/** Stands in for a sync gateway: its agent URL is an output, unknown during a first preview. */
const gatewayProvider = {
  async create(inputs) {
    return { id: inputs.name, outs: { name: inputs.name, url: inputs.url, agentUrl: inputs.url } };
  },
  async diff(_id, olds, news) {
    const changed = olds.url !== news.url;
    return { changes: changed, replaces: changed ? ["url"] : [] };
  },
};
class LabGateway extends pulumi.dynamic.Resource {
  constructor(name, args, opts) {
    super(gatewayProvider, name, { agentUrl: undefined, ...args }, opts, "lab", "Gateway");
  }
}

/** Stands in for cloud snapshots: copies each frozen target and takes its digest. */
const snapshotProvider = {
  async create(inputs) {
    const fs = require("node:fs");
    const path = require("node:path");
    const { digest } = require("rehost");
    const ids = [];
    const digests = {};
    for (const [job, target] of Object.entries(inputs.targets)) {
      const file = path.join(inputs.dir, `${job}@${inputs.point}.raw`);
      fs.copyFileSync(target, file);
      ids.push(file);
      digests[job] = (await digest(file)).digest;
    }
    return { id: inputs.point, outs: { ...inputs, ids, digests } };
  },
  async delete(_id, olds) {
    const fs = require("node:fs");
    for (const file of olds.ids) fs.rmSync(file, { force: true });
  },
};
class LabSnapshots extends pulumi.dynamic.Resource {
  constructor(name, args, opts) {
    super(snapshotProvider, name, { ids: undefined, digests: undefined, ...args }, opts, "lab", "Snapshots");
  }
}

const timing = { pollSeconds: 0.2, timeoutSeconds: 300 };

if (config.require("role") === "proxied") {
  const disks = config.requireObject("disks");
  const proxyUrl = config.require("proxyUrl");
  const gateway = new LabGateway("gw-1", { name: "gw-1", url: config.require("agentUrl") });
  const replications = disks.map(
    (d) =>
      new rehost.Replication(
        d.id,
        {
          agentUrl: gateway.agentUrl,
          jobId: d.id,
          target: d.target,
          proxy: { url: proxyUrl, vm: d.vm, diskKey: d.key, rpo: config.require("rpo"), fullCheck: 0 },
          waitForInitialSync: true,
          ...timing,
        },
        { dependsOn: [gateway] },
      ),
  );
  exports.recoveryPoints = pulumi.all(replications.map((r) => r.recoveryPointAt));
  if (config.get("phase") === "cutover") {
    const vms = [...new Set(disks.map((d) => d.vm))];
    const cutovers = vms.map(
      (vm) =>
        new rehost.Cutover(
          `${vm}-cutover`,
          { agentUrl: gateway.agentUrl, vm, jobIds: disks.filter((d) => d.vm === vm).map((d) => d.id), proxy: { url: proxyUrl, sampleBlocks: 8 }, ...timing },
          { dependsOn: replications },
        ),
    );
    exports.verified = pulumi.all(cutovers.map((c) => c.verified));
    exports.downtimeSeconds = pulumi.all(cutovers.map((c) => c.downtimeSeconds));
    exports.sourceBytesReadOverLink = pulumi.all(cutovers.map((c) => c.sourceBytesReadOverLink));
    exports.finalDeltaBytes = pulumi.all(cutovers.map((c) => c.finalDeltaBytes));
  }
} else if (config.require("role") === "wave") {
  const disks = config.requireObject("disks");
  const round = config.getNumber("round") ?? 0;
  const gateway = new LabGateway("gw-1", { name: "gw-1", url: config.require("agentUrl") });
  const replications = disks.map(
    (d) =>
      new rehost.Replication(d.id, { agentUrl: gateway.agentUrl, jobId: d.id, source: d.source, target: d.target, round, ...timing }, { dependsOn: [gateway] }),
  );
  exports.agentUrl = gateway.agentUrl;
  exports.jobIds = disks.map((d) => d.id);
  exports.targets = Object.fromEntries(disks.map((d) => [d.id, d.target]));
  exports.lastRounds = pulumi.all(replications.map((r) => r.lastRound));
  if (config.get("phase") === "cutover") {
    const cutovers = disks.map(
      (d) =>
        new rehost.Cutover(
          `${d.id}-cutover`,
          { agentUrl: gateway.agentUrl, vm: d.vm, jobIds: [d.id], round: round + 1, manualConfirmation: true, window: config.getObject("window"), ...timing },
          { dependsOn: replications },
        ),
    );
    exports.verified = pulumi.all(cutovers.map((c) => c.verified));
    exports.cutoverDigests = pulumi.all(cutovers.map((c) => c.digests));
  }
} else {
  const wave = new pulumi.StackReference(config.require("waveStack"));
  const agentUrl = wave.requireOutput("agentUrl");
  const jobIds = wave.requireOutput("jobIds");
  const point = pulumi.getStack();
  const frozen = new rehost.RehearsalPoint("point", { agentUrl, jobIds, point, ...timing });
  const snapshots = new LabSnapshots("snapshots", {
    targets: wave.requireOutput("targets"),
    dir: config.require("snapshotDir"),
    point,
    heldAt: frozen.digests,
  });
  new rehost.RehearsalThaw("thaw", { agentUrl, jobIds, point, snapshots: snapshots.ids, ...timing });
  exports.pointDigests = frozen.digests;
  exports.snapshotDigests = snapshots.digests;
}
