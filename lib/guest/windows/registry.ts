/**
 * Registry values and the regedit text format (`.reg`) that hivex's `hivexregedit` merges into
 * and exports from an offline hive. Pure functions: the text a merge needs, and the keys an
 * export holds.
 *
 * Key paths are relative to the hive's root and use backslashes (`ControlSet001\Services\viostor`);
 * the prefix (`HKEY_LOCAL_MACHINE\SYSTEM`) names the hive in the text. Names compare
 * case-insensitively, as Windows compares them.
 */

/** A registry value, by type. Strings are written as UTF-16LE with a terminating NUL. */
export type RegValue =
  | { readonly type: "sz"; readonly data: string }
  | { readonly type: "expand_sz"; readonly data: string }
  | { readonly type: "multi_sz"; readonly data: readonly string[] }
  | { readonly type: "dword"; readonly data: number }
  | { readonly type: "binary"; readonly data: Buffer }
  /** Any other type (REG_QWORD = 11, REG_NONE = 0, …), kept as its bytes. */
  | { readonly type: "other"; readonly code: number; readonly data: Buffer };

export const sz = (data: string): RegValue => ({ type: "sz", data });
export const expandSz = (data: string): RegValue => ({ type: "expand_sz", data });
export const multiSz = (data: readonly string[]): RegValue => ({ type: "multi_sz", data });
export const dword = (data: number): RegValue => ({ type: "dword", data });
export const binary = (data: Buffer | readonly number[]): RegValue => ({ type: "binary", data: Buffer.from(data as Uint8Array) });

/** A key and the values to set on it (other values of the key are kept). `""` is the default value. */
export interface RegKey {
  readonly path: string;
  readonly values: Readonly<Record<string, RegValue>>;
}

/** The root key names of the hives rehost edits, as regedit spells them. */
export const HIVE_PREFIX = {
  SYSTEM: "HKEY_LOCAL_MACHINE\\SYSTEM",
  SOFTWARE: "HKEY_LOCAL_MACHINE\\SOFTWARE",
} as const;

const TYPE_CODE = { sz: 1, expand_sz: 2, binary: 3, dword: 4, multi_sz: 7 } as const;

/** The bytes a value is stored as. */
function valueBytes(v: RegValue): Buffer {
  switch (v.type) {
    case "sz":
    case "expand_sz":
      return Buffer.from(`${v.data}\0`, "utf16le");
    case "multi_sz":
      return Buffer.from(`${v.data.map((s) => `${s}\0`).join("")}\0`, "utf16le");
    case "dword": {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v.data >>> 0);
      return b;
    }
    case "binary":
    case "other":
      return v.data;
  }
}

/** The value of type `code` stored as `bytes`. */
export function valueOf(code: number, bytes: Buffer): RegValue {
  const text = () => decodeUtf16(bytes);
  switch (code) {
    case 1:
      return { type: "sz", data: text().replace(/\0+$/, "") };
    case 2:
      return { type: "expand_sz", data: text().replace(/\0+$/, "") };
    case 3:
      return { type: "binary", data: bytes };
    case 4:
      return bytes.length === 4 ? { type: "dword", data: bytes.readUInt32LE(0) } : { type: "other", code, data: bytes };
    case 7: {
      const parts = text().split("\0");
      while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
      return { type: "multi_sz", data: parts };
    }
    default:
      return { type: "other", code, data: bytes };
  }
}

function decodeUtf16(bytes: Buffer): string {
  return bytes.subarray(0, bytes.length - (bytes.length % 2)).toString("utf16le");
}

/** True when two values have the same type and bytes. */
export function sameValue(a: RegValue | undefined, b: RegValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const code = (v: RegValue) => (v.type === "other" ? v.code : TYPE_CODE[v.type]);
  return code(a) === code(b) && valueBytes(a).equals(valueBytes(b));
}

/** A value for a person: `0`, `system32\drivers\viostor.sys`, `[a, b]`, `01 ff 00 00`. */
export function describeValue(v: RegValue): string {
  switch (v.type) {
    case "sz":
    case "expand_sz":
      return v.data;
    case "multi_sz":
      return `[${v.data.join(", ")}]`;
    case "dword":
      return `0x${v.data.toString(16)}`;
    case "binary":
    case "other":
      return v.data.length > 16
        ? `${v.data
            .subarray(0, 16)
            .toString("hex")
            .replace(/(..)(?!$)/g, "$1 ")} … (${v.data.length} bytes)`
        : v.data.toString("hex").replace(/(..)(?!$)/g, "$1 ");
  }
}

function quote(name: string): string {
  return `"${name.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function encode(v: RegValue): string {
  if (v.type === "dword") return `dword:${(v.data >>> 0).toString(16).padStart(8, "0")}`;
  const hex = [...valueBytes(v)].map((b) => b.toString(16).padStart(2, "0")).join(",");
  if (v.type === "binary") return `hex:${hex}`;
  const code = v.type === "other" ? v.code : TYPE_CODE[v.type];
  return `hex(${code.toString(16)}):${hex}`;
}

/**
 * The `.reg` text that sets `keys` in the hive named `prefix`. Every ancestor of a key is listed
 * before it (`hivexregedit --merge` creates a key only under an existing parent). Strings are
 * written as hex bytes, so no encoding or escaping question arises.
 */
export function renderReg(prefix: string, keys: readonly RegKey[]): string {
  const lines = ["Windows Registry Editor Version 5.00", ""];
  const emitted = new Set<string>();
  const section = (path: string, values: Readonly<Record<string, RegValue>>) => {
    lines.push(`[${prefix}\\${path}]`);
    for (const [name, value] of Object.entries(values)) lines.push(`${name === "" ? "@" : quote(name)}=${encode(value)}`);
    lines.push("");
  };
  for (const key of keys) {
    const parts = splitPath(key.path);
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join("\\");
      if (emitted.has(ancestor.toLowerCase())) continue;
      emitted.add(ancestor.toLowerCase());
      section(ancestor, {});
    }
    emitted.add(parts.join("\\").toLowerCase());
    section(parts.join("\\"), key.values);
  }
  return lines.join("\n");
}

/** A key read from an export: its path as the hive spells it and its values by name. */
export interface RegKeyRead {
  readonly path: string;
  readonly values: ReadonlyMap<string, { readonly name: string; readonly value: RegValue }>;
}

/** The keys of an export of the hive named `prefix`, by lower-cased path. */
export function parseReg(text: string, prefix: string): Map<string, RegKeyRead> {
  const keys = new Map<string, RegKeyRead>();
  const lowerPrefix = prefix.toLowerCase();
  let current: Map<string, { name: string; value: RegValue }> | undefined;
  // Logical lines: a trailing backslash continues a hex value on the next line.
  const logical: string[] = [];
  for (const raw of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    const prev = logical[logical.length - 1];
    if (prev !== undefined && prev.endsWith("\\") && /^\s/.test(raw)) logical[logical.length - 1] = prev.slice(0, -1) + raw.trim();
    else logical.push(raw);
  }
  for (const line of logical) {
    const header = /^\[(.*)\]\s*$/.exec(line);
    if (header) {
      let path = header[1]!;
      if (path.toLowerCase().startsWith(lowerPrefix)) path = path.slice(prefix.length);
      path = splitPath(path).join("\\");
      current = new Map();
      keys.set(path.toLowerCase(), { path, values: current });
      continue;
    }
    if (current === undefined || line.trim() === "" || line.startsWith(";")) continue;
    const parsed = parseValueLine(line);
    if (parsed) current.set(parsed.name.toLowerCase(), parsed);
  }
  return keys;
}

function parseValueLine(line: string): { name: string; value: RegValue } | undefined {
  let name: string;
  let rest: string;
  if (line.startsWith("@=")) {
    name = "";
    rest = line.slice(2);
  } else if (line.startsWith('"')) {
    let i = 1;
    name = "";
    for (; i < line.length && line[i] !== '"'; i++) name += line[i] === "\\" ? line[++i] : line[i];
    if (line[i + 1] !== "=") return undefined;
    rest = line.slice(i + 2);
  } else return undefined;
  const dw = /^dword:([0-9a-fA-F]{8})$/.exec(rest);
  if (dw) return { name, value: { type: "dword", data: Number.parseInt(dw[1]!, 16) } };
  const hex = /^hex(?:\(([0-9a-fA-F]+)\))?:(.*)$/.exec(rest);
  if (hex) {
    const bytes = Buffer.from(hex[2]!.replace(/[\s,]/g, ""), "hex");
    return { name, value: valueOf(hex[1] === undefined ? 3 : Number.parseInt(hex[1], 16), bytes) };
  }
  const str = /^"((?:[^"\\]|\\.)*)"$/.exec(rest);
  if (str) return { name, value: { type: "sz", data: str[1]!.replace(/\\(.)/g, "$1") } };
  return undefined;
}

/** The components of a key path, without empty ones. */
export function splitPath(path: string): string[] {
  return path.split("\\").filter((p) => p !== "");
}
