import * as fs from "node:fs";
import * as path from "node:path";
import { InputError, type Problem } from "../../lib/problems";

/** The prefix of the inventory tests' temporary directories (test/helpers/tmp.ts). */
export const INVENTORY_TMP = "rehost-inventory-";

/** Writes `text` to `dir/name` and returns the path. */
export function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** Removes the column headed `column` from the CSV `file` (lines ending in `lineEnd`, no quoted commas); returns its index. */
export function dropCsvColumn(file: string, column: string, lineEnd: "\n" | "\r\n"): number {
  const lines = fs.readFileSync(file, "utf8").split(lineEnd);
  const drop = lines[0]!.split(",").indexOf(column);
  if (drop < 0) throw new Error(`${file} has no column ${column}`);
  fs.writeFileSync(
    file,
    lines
      .map((l) =>
        l
          .split(",")
          .filter((_, i) => i !== drop)
          .join(","),
      )
      .join(lineEnd),
  );
  return drop;
}

/** The problems of the InputError `promise` rejects with; fails if it resolves or throws something else. */
export async function problemsOf(promise: Promise<unknown>): Promise<readonly Problem[]> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof InputError) return err.problems;
    throw err;
  }
  throw new Error("expected an InputError, but the input was accepted");
}

/** The problems of the InputError `fn` throws. */
export function problemsOfSync(fn: () => unknown): readonly Problem[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err.problems;
    throw err;
  }
  throw new Error("expected an InputError, but the input was accepted");
}

/** A valid VM document as written in an inventory file. */
export function vmDoc(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    uuid: `uuid-${name}`,
    cpus: 2,
    memoryMiB: 4096,
    guestOs: { family: "linux", id: "CentOS 7 (64-bit)" },
    disks: [{ key: 2000, label: "Hard disk 1", capacityBytes: 1073741824 }],
    nics: [{ mac: "00:50:56:00:00:01", portgroup: "web", ipv4: ["10.10.1.11"] }],
    ...overrides,
  };
}

export const WEB_NETWORK = { portgroup: "web", cidr: "10.10.1.0/24", gateway: "10.10.1.1" };
