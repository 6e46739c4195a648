/**
 * Cloud disks on this machine: each disk a file attached to a real loop device, found the way a
 * gateway finds an ECS disk — a `virtio-<serial>` link in a by-id directory and the serial under
 * the device's `<major>:<minor>` entry of a sysfs-like directory (loop devices have no serial of
 * their own). Attaching them in another order gives them other device names, as a reboot or a
 * re-attachment does on ECS. Needs root (losetup).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { diskSerial } from "../../lib/agent/disks";

/** One cloud disk: its id and the file that holds its data. */
export interface CloudDisk {
  readonly id: string;
  readonly file: string;
}

/** The by-id and sysfs directories of a set of disks attached to loop devices. */
export class LoopDiskRig {
  readonly byIdDir: string;
  readonly sysDevBlockDir: string;
  /** Disk id → the loop device it is attached to now. */
  readonly devices = new Map<string, string>();

  constructor(dir: string) {
    this.byIdDir = path.join(dir, "by-id");
    this.sysDevBlockDir = path.join(dir, "sys-dev-block");
  }

  /** Attaches `disks` to free loop devices in the order given and publishes their links and serials. */
  attach(disks: readonly CloudDisk[]): void {
    for (const disk of disks) {
      const device = execFileSync("losetup", ["--find", "--show", disk.file], { encoding: "utf8" }).trim();
      this.devices.set(disk.id, device);
    }
    this.publish(disks.map((d) => ({ link: d.id, serialOf: d.id })));
  }

  /**
   * Writes the by-id links and serials: `link`'s `virtio-<serial>` link leads to the device of
   * disk `serialOf`, and each attached device reports its own disk's serial.
   */
  publish(entries: ReadonlyArray<{ link: string; serialOf: string }>): void {
    fs.rmSync(this.byIdDir, { recursive: true, force: true });
    fs.rmSync(this.sysDevBlockDir, { recursive: true, force: true });
    fs.mkdirSync(this.byIdDir, { recursive: true });
    fs.mkdirSync(this.sysDevBlockDir, { recursive: true });
    for (const [id, device] of this.devices) {
      const entry = path.join(this.sysDevBlockDir, deviceNumber(device));
      fs.mkdirSync(entry, { recursive: true });
      fs.writeFileSync(path.join(entry, "serial"), `${diskSerial(id)}\n`);
    }
    for (const { link, serialOf } of entries) {
      const device = this.devices.get(serialOf);
      if (device === undefined) throw new Error(`disk ${serialOf} is not attached`);
      fs.symlinkSync(device, path.join(this.byIdDir, `virtio-${diskSerial(link)}`));
    }
  }

  /** Detaches every loop device this rig attached. */
  detachAll(): void {
    for (const device of this.devices.values()) execFileSync("losetup", ["--detach", device]);
    this.devices.clear();
  }
}

/** `major:minor` of a block device, as `/sys/dev/block` names it. */
export function deviceNumber(device: string): string {
  const [major, minor] = execFileSync("stat", ["-L", "-c", "%t %T", device], { encoding: "utf8" })
    .trim()
    .split(" ")
    .map((h) => parseInt(h, 16));
  return `${major}:${minor}`;
}
