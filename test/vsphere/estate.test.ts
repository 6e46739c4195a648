/**
 * The pure parts of the vSphere client: a RetrievePropertiesEx answer shaped like a real vCenter's
 * (`xsi:` prefixes, distributed and standard portgroups, RDMs, templates, nested folders) mapped
 * onto the inventory, faults, endpoints and thumbprints.
 */
import { describe, expect, it } from "vitest";
import { InventorySchema } from "../../lib/inventory/schema";
import { sdkEndpoint } from "../../lib/vsphere/connect";
import { buildEstate } from "../../lib/vsphere/estate";
import { objectContents } from "../../lib/vsphere/soap";
import { normalizeThumbprint } from "../../lib/vsphere/transport";
import { child, parseBody } from "../../lib/vsphere/xml";

const obj = (type: string, value: string, props: Record<string, string>) =>
  `<objects><obj type="${type}">${value}</obj>${Object.entries(props)
    .map(([name, val]) => `<propSet><name>${name}</name>${val}</propSet>`)
    .join("")}</objects>`;

const devices = (...items: string[]) => `<val xsi:type="ArrayOfVirtualDevice">${items.join("")}</val>`;

const DISK = (key: number, label: string, bytes: number, backing: string, controller = 1000) =>
  `<VirtualDevice xsi:type="VirtualDisk"><key>${key}</key><deviceInfo><label>${label}</label><summary>x</summary></deviceInfo>${backing}<controllerKey>${controller}</controllerKey><unitNumber>0</unitNumber><capacityInKB>${bytes / 1024}</capacityInKB><capacityInBytes>${bytes}</capacityInBytes></VirtualDevice>`;

const FLAT = (file: string, mode = "persistent", thin = true) =>
  `<backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>${file}</fileName><datastore type="Datastore">datastore-11</datastore><diskMode>${mode}</diskMode><thinProvisioned>${thin}</thinProvisioned><changeId>52 aa bb/7</changeId></backing>`;

const RDM = (file: string, mode: string) =>
  `<backing xsi:type="VirtualDiskRawDiskMappingVer1BackingInfo"><fileName>${file}</fileName><datastore type="Datastore">datastore-11</datastore><compatibilityMode>${mode}</compatibilityMode><diskMode>persistent</diskMode></backing>`;

const ANSWER = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>
${obj("Datacenter", "datacenter-3", { name: '<val xsi:type="xsd:string">SZ-DC</val>', vmFolder: '<val xsi:type="ManagedObjectReference" type="Folder">group-v4</val>' })}
${obj("Folder", "group-v4", { name: '<val xsi:type="xsd:string">vm</val>', parent: '<val xsi:type="ManagedObjectReference" type="Datacenter">datacenter-3</val>' })}
${obj("Folder", "group-v20", { name: '<val xsi:type="xsd:string">Finance</val>', parent: '<val xsi:type="ManagedObjectReference" type="Folder">group-v4</val>' })}
${obj("Folder", "group-v21", { name: '<val xsi:type="xsd:string">DB &amp; Core</val>', parent: '<val xsi:type="ManagedObjectReference" type="Folder">group-v20</val>' })}
${obj("Datastore", "datastore-11", { name: '<val xsi:type="xsd:string">ssd-01</val>', "summary.capacity": '<val xsi:type="xsd:long">10995116277760</val>', "summary.freeSpace": '<val xsi:type="xsd:long">1099511627776</val>', "summary.type": '<val xsi:type="xsd:string">VMFS</val>' })}
${obj("Network", "network-7", { name: '<val xsi:type="xsd:string">VM Network</val>' })}
${obj("DistributedVirtualPortgroup", "dvportgroup-31", {
  name: '<val xsi:type="xsd:string">PG-DB-120</val>',
  key: '<val xsi:type="xsd:string">dvportgroup-31</val>',
  "config.defaultPortConfig":
    '<val xsi:type="VMwareDVSPortSetting"><vlan xsi:type="VmwareDistributedVirtualSwitchVlanIdSpec"><inherited>false</inherited><vlanId>120</vlanId></vlan></val>',
  tag: '<val xsi:type="ArrayOfTag"></val>',
})}
${obj("DistributedVirtualPortgroup", "dvportgroup-30", {
  name: '<val xsi:type="xsd:string">DSwitch-Uplinks</val>',
  key: '<val xsi:type="xsd:string">dvportgroup-30</val>',
  tag: '<val xsi:type="ArrayOfTag"><Tag><key>SYSTEM/DVS.UPLINKPG</key></Tag></val>',
})}
${obj("HostSystem", "host-9", { name: '<val xsi:type="xsd:string">esx01.example.com</val>', "runtime.connectionState": '<val xsi:type="HostSystemConnectionState">connected</val>' })}
${obj("VirtualMachine", "vm-101", {
  name: '<val xsi:type="xsd:string">fin-db-01</val>',
  parent: '<val xsi:type="ManagedObjectReference" type="Folder">group-v21</val>',
  "config.uuid": '<val xsi:type="xsd:string">4221a0b8-7f37-5ad4-1b6e-2a6f4a0b1c01</val>',
  "config.template": '<val xsi:type="xsd:boolean">false</val>',
  "config.hardware.numCPU": '<val xsi:type="xsd:int">8</val>',
  "config.hardware.memoryMB": '<val xsi:type="xsd:int">32768</val>',
  "config.guestId": '<val xsi:type="xsd:string">windows2019srv_64Guest</val>',
  "config.firmware": '<val xsi:type="xsd:string">efi</val>',
  "config.changeTrackingEnabled": '<val xsi:type="xsd:boolean">true</val>',
  "runtime.powerState": '<val xsi:type="VirtualMachinePowerState">poweredOn</val>',
  "guest.guestFamily": '<val xsi:type="xsd:string">windowsGuest</val>',
  "config.hardware.device": devices(
    '<VirtualDevice xsi:type="VirtualLsiLogicSASController"><key>1000</key><deviceInfo><label>SCSI controller 0</label><summary>x</summary></deviceInfo><busNumber>0</busNumber></VirtualDevice>',
    '<VirtualDevice xsi:type="ParaVirtualSCSIController"><key>1001</key><deviceInfo><label>SCSI controller 1</label><summary>x</summary></deviceInfo><busNumber>1</busNumber></VirtualDevice>',
    DISK(2000, "Hard disk 1", 100 * 2 ** 30, FLAT("[ssd-01] fin-db-01/fin-db-01.vmdk")),
    DISK(2001, "Hard disk 2", 500 * 2 ** 30, RDM("[ssd-01] fin-db-01/fin-db-01_1.vmdk", "virtualMode"), 1001),
    DISK(2002, "Hard disk 3", 2 * 2 ** 40, RDM("[ssd-01] fin-db-01/fin-db-01_2.vmdk", "physicalMode"), 1001),
    DISK(2003, "Hard disk 4", 10 * 2 ** 30, FLAT("[ssd-01] fin-db-01/fin-db-01_3.vmdk", "independent_nonpersistent", false)),
    '<VirtualDevice xsi:type="VirtualVmxnet3"><key>4000</key><deviceInfo><label>Network adapter 1</label><summary>x</summary></deviceInfo><backing xsi:type="VirtualEthernetCardDistributedVirtualPortBackingInfo"><port><switchUuid>50 2a</switchUuid><portgroupKey>dvportgroup-31</portgroupKey><portKey>12</portKey></port></backing><macAddress>00:50:56:AA:BB:01</macAddress></VirtualDevice>',
    '<VirtualDevice xsi:type="VirtualE1000e"><key>4001</key><deviceInfo><label>Network adapter 2</label><summary>x</summary></deviceInfo><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName><network type="Network">network-7</network></backing><macAddress>00:50:56:aa:bb:02</macAddress></VirtualDevice>',
  ),
  "guest.net": `<val xsi:type="ArrayOfGuestNicInfo">
     <GuestNicInfo><network>VM Network</network><ipAddress>192.168.5.20</ipAddress><ipAddress>fe80::250:56ff:feaa:bb02</ipAddress><ipAddress>169.254.10.1</ipAddress><macAddress>00:50:56:aa:bb:02</macAddress><connected>true</connected></GuestNicInfo>
     <GuestNicInfo><network>PG-DB-120</network><ipAddress>10.20.120.15</ipAddress><macAddress>00:50:56:aa:bb:01</macAddress><connected>true</connected><deviceConfigId>4000</deviceConfigId></GuestNicInfo>
   </val>`,
  snapshot: `<val xsi:type="VirtualMachineSnapshotInfo"><currentSnapshot type="VirtualMachineSnapshot">snapshot-9</currentSnapshot>
     <rootSnapshotList><snapshot type="VirtualMachineSnapshot">snapshot-8</snapshot><vm type="VirtualMachine">vm-101</vm><name>before upgrade</name><description></description><createTime>2026-10-01T10:00:00Z</createTime>
       <childSnapshotList><snapshot type="VirtualMachineSnapshot">snapshot-9</snapshot><vm type="VirtualMachine">vm-101</vm><name>rehost-round-4</name><description>created by rehost</description><createTime>2026-11-20T10:00:00Z</createTime></childSnapshotList>
     </rootSnapshotList></val>`,
})}
${obj("VirtualMachine", "vm-102", {
  name: '<val xsi:type="xsd:string">app-01</val>',
  parent: '<val xsi:type="ManagedObjectReference" type="Folder">group-v4</val>',
  "config.uuid": '<val xsi:type="xsd:string">4221a0b8-0000-0000-0000-000000000002</val>',
  "config.hardware.numCPU": '<val xsi:type="xsd:int">2</val>',
  "config.hardware.memoryMB": '<val xsi:type="xsd:int">4096</val>',
  "config.guestId": '<val xsi:type="xsd:string">centos7_64Guest</val>',
  "runtime.powerState": '<val xsi:type="VirtualMachinePowerState">suspended</val>',
  "guest.ipAddress": '<val xsi:type="xsd:string">10.20.130.7</val>',
  "config.hardware.device": devices(
    '<VirtualDevice xsi:type="VirtualAHCIController"><key>15000</key><deviceInfo><label>SATA controller 0</label><summary>x</summary></deviceInfo><busNumber>0</busNumber></VirtualDevice>',
    DISK(16000, "Hard disk 1", 40 * 2 ** 30, FLAT("[ssd-01] app-01/app-01.vmdk"), 15000),
    '<VirtualDevice xsi:type="VirtualVmxnet3"><key>4000</key><deviceInfo><label>Network adapter 1</label><summary>x</summary></deviceInfo><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName></backing><macAddress>00:50:56:aa:bb:03</macAddress></VirtualDevice>',
  ),
})}
${obj("VirtualMachine", "vm-103", {
  name: '<val xsi:type="xsd:string">tpl-rhel9</val>',
  "config.uuid": '<val xsi:type="xsd:string">4221a0b8-0000-0000-0000-000000000003</val>',
  "config.template": '<val xsi:type="xsd:boolean">true</val>',
})}
${obj("VirtualMachine", "vm-104", { name: '<val xsi:type="xsd:string">orphaned-01</val>' })}
</returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>`;

describe("estate from a vCenter answer", () => {
  const estate = buildEstate(objectContents(child(child(parseBody(ANSWER), "RetrievePropertiesExResponse"), "returnval")));
  const byName = Object.fromEntries(estate.inventory.vms.map((v) => [v.name, v]));

  it("maps VMs onto the inventory schema", () => {
    expect(() => InventorySchema.parse(estate.inventory)).not.toThrow();
    expect(Object.keys(byName)).toEqual(["app-01", "fin-db-01"]);
    expect(byName["fin-db-01"]).toMatchObject({
      uuid: "4221a0b8-7f37-5ad4-1b6e-2a6f4a0b1c01",
      cpus: 8,
      memoryMiB: 32768,
      guestOs: { family: "windows", id: "windows2019srv_64Guest" },
      firmware: "efi",
      powerState: "poweredOn",
      folder: "Finance/DB & Core",
    });
    expect(byName["app-01"]).toMatchObject({ guestOs: { family: "linux" }, firmware: "bios", powerState: "suspended" });
    expect(byName["app-01"]!.folder).toBeUndefined();
  });

  it("reads disks: capacity, controller, backing kind, datastore, change tracking", () => {
    expect(byName["fin-db-01"]!.disks.map((d) => [d.key, d.capacityBytes, d.controller, d.backing, d.datastore, d.changeTracking, d.thin])).toEqual([
      [2000, 100 * 2 ** 30, "lsilogic-sas", "flat", "ssd-01", true, true],
      [2001, 500 * 2 ** 30, "pvscsi", "rdm-virtual", "ssd-01", true, false],
      [2002, 2 * 2 ** 40, "pvscsi", "rdm-physical", "ssd-01", false, false],
      [2003, 10 * 2 ** 30, "lsilogic-sas", "independent", "ssd-01", false, false],
    ]);
    expect(byName["app-01"]!.disks[0]).toMatchObject({ controller: "sata", changeTracking: false, fileName: "[ssd-01] app-01/app-01.vmdk" });
  });

  it("reads NICs: portgroups by distributed key or network name, IPv4 by device or MAC, no link-local", () => {
    expect(byName["fin-db-01"]!.nics).toEqual([
      { label: "Network adapter 1", mac: "00:50:56:aa:bb:01", portgroup: "PG-DB-120", ipv4: ["10.20.120.15"], adapter: "vmxnet3" },
      { label: "Network adapter 2", mac: "00:50:56:aa:bb:02", portgroup: "VM Network", ipv4: ["192.168.5.20"], adapter: "e1000e" },
    ]);
    // Without guest.net, a single NIC takes the guest's primary address.
    expect(byName["app-01"]!.nics[0]?.ipv4).toEqual(["10.20.130.7"]);
  });

  it("lists portgroups without uplinks, hosts and datastores", () => {
    expect(estate.portgroups).toEqual([
      { name: "VM Network", distributed: false },
      { name: "PG-DB-120", distributed: true, vlan: 120 },
    ]);
    expect(estate.hosts).toEqual([{ name: "esx01.example.com", connectionState: "connected" }]);
    expect(estate.datastores).toEqual([{ name: "ssd-01", type: "VMFS", capacityBytes: 10995116277760, freeBytes: 1099511627776 }]);
  });

  it("reports unreplicable disks, snapshots and skipped VMs", () => {
    expect(estate.unreplicable.map((d) => [d.vm, d.diskKey, d.backing])).toEqual([
      ["fin-db-01", 2002, "rdm-physical"],
      ["fin-db-01", 2003, "independent"],
    ]);
    expect(estate.snapshots.map((s) => [s.moref, s.name, s.createdByRehost])).toEqual([
      ["snapshot-8", "before upgrade", false],
      ["snapshot-9", "rehost-round-4", true],
    ]);
    expect(estate.skipped).toEqual([
      { vm: "tpl-rhel9", reason: "it is a template" },
      { vm: "orphaned-01", reason: "vCenter shows no configuration for it (inaccessible or orphaned)" },
    ]);
  });
});

describe("endpoints and thumbprints", () => {
  it("turns what a user types into the SDK endpoint", () => {
    expect(sdkEndpoint("vc.example.com").href).toBe("https://vc.example.com/sdk");
    expect(sdkEndpoint("https://vc.example.com:8443").href).toBe("https://vc.example.com:8443/sdk");
    expect(sdkEndpoint("https://vc.example.com/sdk").href).toBe("https://vc.example.com/sdk");
    expect(() => sdkEndpoint("http://vc.example.com")).toThrow(/https/);
  });

  it("normalizes fingerprints", () => {
    expect(normalizeThumbprint("ab:cd:ef")).toBe("AB:CD:EF");
    expect(normalizeThumbprint("abcdef")).toBe("AB:CD:EF");
    expect(normalizeThumbprint("AB CD-EF")).toBe("AB:CD:EF");
  });
});
