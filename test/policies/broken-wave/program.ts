/**
 * A wave program gone wrong: the resources a hand-edited wave could declare, written directly
 * with @pulumi/alicloud and tagged as rehost's components tag theirs, so that the `rehost-guard`
 * pack must catch each mistake. Config `broken:cases` chooses the mistakes.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";

export = async () => {
  const cases = new Set(new pulumi.Config("broken").requireObject<string[]>("cases"));
  const wave = { "rehost:wave": "wave-1", "rehost:phase": "cutover" };

  const vpc = new alicloud.vpc.Network("prod-vpc", { cidrBlock: "10.10.0.0/16", tags: {} });
  const web = new alicloud.vpc.Switch("prod-web", { vpcId: vpc.id, cidrBlock: "10.10.1.0/24", zoneId: "cn-shenzhen-e", tags: { "rehost:portgroup": "web" } });
  const sync = new alicloud.vpc.Switch("prod-sync", { vpcId: vpc.id, cidrBlock: "172.30.0.0/27", zoneId: "cn-shenzhen-e", tags: { "rehost:role": "sync" } });
  const hostsSg = new alicloud.ecs.SecurityGroup("prod-hosts", { vpcId: vpc.id });

  // A migrated host: its source VM holds 10.10.1.254, an address Alibaba reserves in a /24.
  const ip = cases.has("reserved-ip") ? "10.10.1.254" : "10.10.1.21";
  const host = new alicloud.ecs.Instance("web-01-instance", {
    instanceType: "ecs.g7.large",
    vswitchId: web.id,
    privateIp: ip,
    securityGroups: [hostsSg.id],
    systemDiskEncrypted: true,
    internetMaxBandwidthOut: cases.has("public-ip") ? 10 : 0,
    tags: { ...wave, "rehost:source-vm": "web-01", "rehost:source-vm-uuid": "4211-0001", "rehost:source-ip": ip },
  });

  // A sync gateway with 20 replica disks.
  const gateway = new alicloud.ecs.Instance("wave-1-gw-1-instance", {
    instanceType: "ecs.c7.large",
    vswitchId: sync.id,
    securityGroups: [hostsSg.id],
    systemDiskEncrypted: true,
    internetMaxBandwidthOut: 0,
    tags: { "rehost:role": "sync-gateway", "rehost:wave": "wave-1" },
  });
  const disks = cases.has("gateway-20-disks") ? 20 : 4;
  for (let i = 0; i < disks; i++) {
    const disk = new alicloud.ecs.EcsDisk(
      `wave-1-gw-1-disk-${i}`,
      { zoneId: "cn-shenzhen-e", size: 100, category: "cloud_essd", encrypted: true, tags: { "rehost:disk": `disk-${i}` } },
      { protect: true },
    );
    new alicloud.ecs.EcsDiskAttachment(`wave-1-gw-1-attach-${i}`, { diskId: disk.id, instanceId: gateway.id });
  }

  // SSH for the operator — or for the whole internet.
  new alicloud.ecs.SecurityGroupRule("prod-hosts-ssh", {
    securityGroupId: hostsSg.id,
    type: "ingress",
    ipProtocol: "tcp",
    policy: "accept",
    portRange: "22/22",
    cidrIp: cases.has("open-ssh") ? "0.0.0.0/0" : "192.168.100.0/24",
  });

  // A rehearsal VPC with the production CIDR, attached to CEN.
  const rehearsal = new alicloud.vpc.Network("rehearsal-1-vpc", { cidrBlock: "10.10.0.0/16", tags: { "rehost:phase": "rehearsal-1" } });
  const cen = new alicloud.cen.Instance("cen", { cenInstanceName: "dc-link" });
  const router = new alicloud.cen.TransitRouter("cen-tr", { cenId: cen.id });
  new alicloud.cen.TransitRouterVpcAttachment("cen-attach-prod", {
    cenId: cen.id,
    transitRouterId: router.transitRouterId,
    vpcId: vpc.id,
    zoneMappings: [{ vswitchId: sync.id, zoneId: "cn-shenzhen-e" }],
  });
  if (cases.has("rehearsal-on-cen")) {
    new alicloud.cen.TransitRouterVpcAttachment("cen-attach-rehearsal", {
      cenId: cen.id,
      transitRouterId: router.transitRouterId,
      vpcId: rehearsal.id,
      zoneMappings: [{ vswitchId: sync.id, zoneId: "cn-shenzhen-e" }],
    });
  }

  return { hostIp: host.privateIp };
};
