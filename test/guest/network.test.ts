import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { networkFiles, networkPlan } from "../../lib/guest";
import { isPersistentNetRule, staleNetworkFiles } from "../../lib/guest/network";

const plan = networkPlan(2, [
  { address: "10.1.1.21", prefixLength: 24 },
  { device: "eth1", address: "10.1.2.21", prefixLength: 25 },
  { device: "eth0", address: "10.1.1.22", prefixLength: 24 },
]);

describe("network configuration generation", () => {
  it("plans one DHCP interface per NIC with its secondary addresses", () => {
    expect(plan.interfaces).toEqual([
      { device: "eth0", secondary: ["10.1.1.21/24", "10.1.1.22/24"] },
      { device: "eth1", secondary: ["10.1.2.21/25"] },
    ]);
    expect(networkPlan(1, [{ device: "eth2", address: "10.0.0.5", prefixLength: 24 }]).interfaces.map((i) => i.device)).toEqual(["eth0", "eth1", "eth2"]);
    expect(networkPlan(0, []).interfaces).toEqual([{ device: "eth0", secondary: [] }]);
  });

  it("ifupdown: keeps source lines, DHCP stanza plus one static stanza per secondary", () => {
    const [file] = networkFiles(
      "ifupdown",
      plan,
      "source-directory /etc/network/interfaces.d\nauto ens192\niface ens192 inet static\n\taddress 10.1.1.20/24\n",
    );
    expect(file!.path).toBe("/etc/network/interfaces");
    const lines = file!.content.split("\n");
    expect(lines).toContain("source-directory /etc/network/interfaces.d");
    expect(file!.content).not.toContain("ens192");
    expect(file!.content).toContain(
      "auto eth0\niface eth0 inet dhcp\niface eth0 inet static\n\taddress 10.1.1.21/24\niface eth0 inet static\n\taddress 10.1.1.22/24\n",
    );
    expect(file!.content).toContain("auto eth1\niface eth1 inet dhcp\niface eth1 inet static\n\taddress 10.1.2.21/25\n");
    expect(file!.content).toContain("auto lo\niface lo inet loopback\n");
  });

  it("netplan: valid YAML, private mode", () => {
    const [file] = networkFiles("netplan", plan);
    expect(file!.mode).toBe(0o600);
    expect(parse(file!.content)).toEqual({
      network: {
        version: 2,
        ethernets: { eth0: { dhcp4: true, addresses: ["10.1.1.21/24", "10.1.1.22/24"] }, eth1: { dhcp4: true, addresses: ["10.1.2.21/25"] } },
      },
    });
  });

  it("systemd-networkd, ifcfg (RHEL), NetworkManager keyfiles, ifcfg (SUSE)", () => {
    const networkd = networkFiles("networkd", plan);
    expect(networkd.map((f) => f.path)).toEqual(["/etc/systemd/network/10-rehost-eth0.network", "/etc/systemd/network/11-rehost-eth1.network"]);
    expect(networkd[0]!.content).toContain("[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nAddress=10.1.1.21/24\nAddress=10.1.1.22/24\n");

    const ifcfg = networkFiles("ifcfg-rh", plan);
    expect(ifcfg[0]!.path).toBe("/etc/sysconfig/network-scripts/ifcfg-eth0");
    expect(ifcfg[0]!.content).toContain("DEVICE=eth0\nTYPE=Ethernet\nBOOTPROTO=dhcp\nONBOOT=yes\n");
    expect(ifcfg[0]!.content).toContain("IPADDR0=10.1.1.21\nPREFIX0=24\nIPADDR1=10.1.1.22\nPREFIX1=24\n");
    expect(ifcfg[0]!.content).not.toMatch(/HWADDR|GATEWAY/);

    const nm = networkFiles("nm-keyfile", plan);
    expect(nm[1]!).toMatchObject({ path: "/etc/NetworkManager/system-connections/rehost-eth1.nmconnection", mode: 0o600 });
    expect(nm[0]!.content).toContain("interface-name=eth0\n");
    expect(nm[0]!.content).toContain("[ipv4]\nmethod=auto\naddress1=10.1.1.21/24\naddress2=10.1.1.22/24\n");

    const suse = networkFiles("ifcfg-suse", plan);
    expect(suse[0]!.content).toContain("BOOTPROTO='dhcp'\nSTARTMODE='auto'\nIPADDR_0='10.1.1.21/24'\nIPADDR_1='10.1.1.22/24'\n");
  });

  it("finds the files that bind the VMware NICs", () => {
    expect(
      staleNetworkFiles("ifcfg-rh", {
        "/etc/sysconfig/network-scripts": ["ifcfg-ens192", "ifcfg-lo", "ifdown-eth", "route-ens192"],
        "/etc/NetworkManager/system-connections": ["rehost-eth0.nmconnection"],
      }),
    ).toEqual(["/etc/sysconfig/network-scripts/ifcfg-ens192"]);
    expect(staleNetworkFiles("netplan", { "/etc/netplan": ["50-cloud-init.yaml", "50-rehost.yaml", "README"] })).toEqual(["/etc/netplan/50-cloud-init.yaml"]);
    expect(isPersistentNetRule("70-persistent-net.rules", "")).toBe(true);
    expect(isPersistentNetRule("99-mine.rules", 'SUBSYSTEM=="net", ATTR{address}=="00:50:56:aa:bb:cc", NAME="lan0"')).toBe(true);
    expect(isPersistentNetRule("60-local.rules", 'SUBSYSTEM=="block", ATTR{queue/scheduler}="none"')).toBe(false);
  });
});
