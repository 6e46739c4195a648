/**
 * An offline registry hive file on this host, read and changed with hivex's `hivexregedit`
 * (Debian `libwin-hivex-perl`): `--export` of a key to regedit text, `--merge` of regedit text.
 * hivex writes the hive's binary format; rehost only writes and reads the text.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseReg, renderReg, splitPath, type RegKey, type RegKeyRead } from "./registry";

/** The base block's sequence numbers: different when Windows did not finish writing the hive. */
export interface HiveHeader {
  readonly primarySequence: number;
  readonly secondarySequence: number;
  /** True when the sequence numbers differ: changes still in `*.LOG1`/`*.LOG2` are not in the file. */
  readonly dirty: boolean;
}

/** A hive file and the registry prefix its keys live under (`HKEY_LOCAL_MACHINE\SYSTEM`). */
export class HiveFile {
  constructor(
    readonly file: string,
    readonly prefix: string,
  ) {}

  /** The sequence numbers of the hive's base block; throws when the file is not a hive. */
  header(): HiveHeader {
    const fd = fs.openSync(this.file, "r");
    try {
      const head = Buffer.alloc(12);
      fs.readSync(fd, head, 0, 12, 0);
      if (head.toString("latin1", 0, 4) !== "regf") throw new Error(`${this.file} is not a registry hive (no regf signature)`);
      const primarySequence = head.readUInt32LE(4);
      const secondarySequence = head.readUInt32LE(8);
      return { primarySequence, secondarySequence, dirty: primarySequence !== secondarySequence };
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * The key at `keyPath` and its subkeys to `depth` levels (1: the key's values only, 2: its
   * subkeys with their values too; undefined: everything below), by lower-cased path; `undefined`
   * when the key does not exist.
   */
  async read(keyPath: string, depth?: number): Promise<Map<string, RegKeyRead> | undefined> {
    const args = ["--export", "--prefix", this.prefix, ...(depth !== undefined ? ["--max-depth", String(depth)] : []), this.file, `\\${keyPath}`];
    const r = await run("hivexregedit", args);
    if (r.code !== 0) {
      if (/path not found in this hive/.test(r.stderr)) return undefined;
      throw new Error(`hivexregedit --export ${keyPath} of ${this.file} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
    return parseReg(r.stdout, this.prefix);
  }

  /** The names of the subkeys of `keyPath` (`[]` when it does not exist). */
  async subkeys(keyPath: string): Promise<string[]> {
    const keys = await this.read(keyPath, 2);
    if (keys === undefined) return [];
    const depth = splitPath(keyPath).length;
    return [...keys.values()]
      .map((k) => splitPath(k.path))
      .filter((p) => p.length === depth + 1)
      .map((p) => p[depth]!);
  }

  /** Sets `keys` (creating them and their parents; other values are kept) in one `hivexregedit --merge`. */
  async merge(keys: readonly RegKey[]): Promise<void> {
    if (keys.length === 0) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rehost-reg-"));
    try {
      const regFile = path.join(dir, "changes.reg");
      fs.writeFileSync(regFile, renderReg(this.prefix, keys));
      const r = await run("hivexregedit", ["--merge", "--prefix", this.prefix, this.file, regFile]);
      if (r.code !== 0) throw new Error(`hivexregedit --merge into ${this.file} failed: ${r.stderr.trim().split("\n")[0] || `exit ${r.code}`}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 512 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new Error(`${command} is not installed: install the Debian package libwin-hivex-perl (scripts/guest/setup-boot.sh)`));
        return;
      }
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
