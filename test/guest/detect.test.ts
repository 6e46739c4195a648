import { describe, expect, it } from "vitest";
import { DirectoryGuestFs, detectOs, familyOf, parseOsRelease } from "../../lib/guest";
import { InputError } from "../../lib/problems";
import { centos7, debian12, freebsd, rocky9, sles11, sles15, ubuntu2204, windows, writeTree, type Tree } from "./fixtures";

const noCommands = () => {
  throw new Error("detection runs no command");
};
const guestOf = (tree: Tree) => new DirectoryGuestFs(writeTree(tree), { run: noCommands });

describe("distribution detection on fixture trees", () => {
  it.each([
    [
      "Debian 12",
      debian12,
      { family: "debian", id: "debian", version: "12", major: 12, initramfsTool: "update-initramfs", network: "ifupdown", systemd: true },
    ],
    [
      "Ubuntu 22.04",
      ubuntu2204,
      { family: "debian", id: "ubuntu", version: "22.04", major: 22, initramfsTool: "update-initramfs", network: "netplan", systemd: true },
    ],
    ["CentOS 7", centos7, { family: "rhel", id: "centos", version: "7", major: 7, initramfsTool: "dracut", network: "ifcfg-rh", systemd: true }],
    ["Rocky 9", rocky9, { family: "rhel", id: "rocky", version: "9.4", major: 9, initramfsTool: "dracut", network: "nm-keyfile", systemd: true }],
    ["SLES 15", sles15, { family: "suse", id: "sles", version: "15.5", major: 15, initramfsTool: "dracut", network: "ifcfg-suse", systemd: true }],
    [
      "SLES 11 (no os-release)",
      sles11,
      { family: "suse", id: "sles", version: "11.4", major: 11, initramfsTool: "mkinitrd", network: "ifcfg-suse", systemd: false },
    ],
  ])("%s", async (_name, tree, expected) => {
    expect(await detectOs(guestOf(tree), "disk.raw")).toMatchObject(expected);
  });

  it("refuses a Windows disk with one problem pointing at the Windows document", async () => {
    const err = await detectOs(guestOf(windows), "win.raw").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    const problems = (err as InputError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: "win.raw", field: "guest OS", received: "Windows" });
    expect(problems[0]!.fix).toContain("docs/windows-guests.md");
  });

  it("refuses an unsupported system and an empty disk", async () => {
    await expect(detectOs(guestOf(freebsd), "bsd.raw")).rejects.toThrow(/FreeBSD 14.1-RELEASE/);
    await expect(detectOs(guestOf({ "/data/file": "x" }), "data.raw")).rejects.toBeInstanceOf(InputError);
  });

  it("parses os-release quoting and maps ID_LIKE", () => {
    expect(parseOsRelease('ID="ol"\nNAME=\'Oracle Linux Server\'\nPRETTY_NAME="A \\"quoted\\" name"\n# comment\n')).toEqual({
      ID: "ol",
      NAME: "Oracle Linux Server",
      PRETTY_NAME: 'A "quoted" name',
    });
    expect(familyOf("ol")).toBe("rhel");
    expect(familyOf("almalinux", "rhel centos fedora")).toBe("rhel");
    expect(familyOf("opensuse-leap", "suse opensuse")).toBe("suse");
    expect(familyOf("pop", "ubuntu debian")).toBe("debian");
    expect(familyOf("arch")).toBeUndefined();
  });
});
