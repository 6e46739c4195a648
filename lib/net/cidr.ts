/**
 * IPv4 and CIDR arithmetic for the planner, the components and the policies: one copy.
 *
 * Addresses are handled as unsigned 32-bit numbers (plain JS numbers in `[0, 2^32)`), so ranges
 * compare, sort and subtract without bit tricks on signed integers.
 */

/** A parsed IPv4 CIDR block. `first`/`last` are the numeric bounds, inclusive. */
export interface Cidr {
  /** Canonical text, `10.1.1.0/24`. */
  readonly text: string;
  /** Prefix length, 0–32. */
  readonly prefix: number;
  /** First address of the block (the network address) as a number. */
  readonly first: number;
  /** Last address of the block (the broadcast address) as a number. */
  readonly last: number;
  /** Number of addresses in the block. */
  readonly size: number;
}

const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** Whether `text` is a dotted IPv4 address without leading zeros (`10.1.1.21`). */
export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

/**
 * The address as an unsigned 32-bit number.
 * @throws RangeError when `ip` is not a dotted IPv4 address.
 */
export function ipToInt(ip: string): number {
  if (!isIpv4(ip)) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  const [a, b, c, d] = ip.split(".").map(Number) as [number, number, number, number];
  return ((a * 256 + b) * 256 + c) * 256 + d;
}

/** Dotted form of an unsigned 32-bit number (`167837953` → `10.1.1.1`). */
export function intToIp(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`not an IPv4 number: ${value}`);
  }
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/**
 * Parses `a.b.c.d/n` strictly: the address must be the network address of the block
 * (`10.1.1.0/24`, not `10.1.1.5/24`).
 * @returns the block, or `undefined` when the text is not a canonical IPv4 CIDR.
 */
export function parseCidr(text: string): Cidr | undefined {
  const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text.trim());
  if (!match) return undefined;
  const [, address, prefixText] = match as unknown as [string, string, string];
  const prefix = Number(prefixText);
  if (!isIpv4(address) || prefix > 32 || String(prefix) !== prefixText) return undefined;
  const size = 2 ** (32 - prefix);
  const first = ipToInt(address);
  if (first % size !== 0) return undefined;
  return { text: `${address}/${prefix}`, prefix, first, last: first + size - 1, size };
}

/**
 * Like `parseCidr`, but for text whose address has host bits set (`10.1.1.5/24`) it returns the
 * block it belongs to, so a message can suggest the canonical form.
 */
export function parseCidrLoose(text: string): Cidr | undefined {
  const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text.trim());
  if (!match) return undefined;
  const [, address, prefixText] = match as unknown as [string, string, string];
  const prefix = Number(prefixText);
  if (!isIpv4(address) || prefix > 32) return undefined;
  return cidrOf(ipToInt(address), prefix);
}

/** The block of length `prefix` that contains the numeric address `value`. */
export function cidrOf(value: number, prefix: number): Cidr {
  const size = 2 ** (32 - prefix);
  const first = value - (value % size);
  return { text: `${intToIp(first)}/${prefix}`, prefix, first, last: first + size - 1, size };
}

/** Accepts a block or its text; throws on text that is not a canonical CIDR. */
function asCidr(cidr: Cidr | string): Cidr {
  if (typeof cidr !== "string") return cidr;
  const parsed = parseCidr(cidr);
  if (!parsed) throw new RangeError(`not a canonical IPv4 CIDR: ${JSON.stringify(cidr)}`);
  return parsed;
}

/** Whether the address `ip` lies inside `cidr`. */
export function cidrContains(cidr: Cidr | string, ip: string | number): boolean {
  const block = asCidr(cidr);
  const value = typeof ip === "number" ? ip : ipToInt(ip);
  return value >= block.first && value <= block.last;
}

/** The IPv4 link-local block (RFC 3927); its addresses are self-assigned and never identify a VM. */
export const LINK_LOCAL = "169.254.0.0/16";

/** Whether `ip` is a link-local address (169.254.0.0/16), which the loaders drop from a VM's addresses. */
export function isLinkLocal(ip: string | number): boolean {
  return cidrContains(LINK_LOCAL, ip);
}

/** Whether block `inner` lies entirely inside block `outer`. */
export function cidrCovers(outer: Cidr | string, inner: Cidr | string): boolean {
  const a = asCidr(outer);
  const b = asCidr(inner);
  return b.first >= a.first && b.last <= a.last;
}

/** Whether two blocks share at least one address (CIDR blocks either nest or are disjoint). */
export function cidrsOverlap(a: Cidr | string, b: Cidr | string): boolean {
  const x = asCidr(a);
  const y = asCidr(b);
  return x.first <= y.last && y.first <= x.last;
}

/**
 * Whether Alibaba Cloud reserves `ip` in a vSwitch of block `cidr`: the first address and the
 * last three (`.0`, `.253`, `.254`, `.255` of a /24). A VM holding one of them cannot keep it.
 */
export function isAlibabaReserved(cidr: Cidr | string, ip: string | number): boolean {
  const block = asCidr(cidr);
  const value = typeof ip === "number" ? ip : ipToInt(ip);
  return value === block.first || (value >= block.last - 2 && value <= block.last);
}

/**
 * The addresses an ECS instance can hold in a vSwitch of block `cidr` (everything but the
 * reserved ones), inclusive, or `undefined` for blocks too small to have any (/31, /32, /30).
 */
export function usableRange(cidr: Cidr | string): { readonly first: string; readonly last: string; readonly count: number } | undefined {
  const block = asCidr(cidr);
  const count = block.size - 4;
  if (count <= 0) return undefined;
  return { first: intToIp(block.first + 1), last: intToIp(block.last - 3), count };
}

/** The smallest single block that contains every given block (their common prefix). */
export function commonCover(blocks: readonly Cidr[]): Cidr {
  if (blocks.length === 0) throw new RangeError("commonCover needs at least one block");
  let first = Infinity;
  let last = -Infinity;
  for (const b of blocks) {
    first = Math.min(first, b.first);
    last = Math.max(last, b.last);
  }
  let prefix = 32;
  // Grow the block from /32 until one block holds both ends.
  while (prefix > 0 && Math.floor(first / 2 ** (32 - prefix)) !== Math.floor(last / 2 ** (32 - prefix))) prefix--;
  return cidrOf(first, prefix);
}

/** Compares blocks by first address, then the wider block first. */
export function compareCidrs(a: Cidr, b: Cidr): number {
  return a.first - b.first || a.prefix - b.prefix;
}

/**
 * Every pair of overlapping blocks among `blocks`, found by one sort and a sweep
 * (O(n log n + pairs)), never by comparing every pair.
 * @returns index pairs `[i, j]` into `blocks`, `i` sorting before `j`.
 */
export function findOverlaps(blocks: readonly Cidr[]): Array<[number, number]> {
  const order = blocks.map((_, i) => i).sort((i, j) => compareCidrs(blocks[i]!, blocks[j]!) || i - j);
  const pairs: Array<[number, number]> = [];
  // Open blocks whose range may still contain later ones; CIDRs nest, so this is a stack.
  const open: number[] = [];
  for (const i of order) {
    const b = blocks[i]!;
    while (open.length > 0 && blocks[open[open.length - 1]!]!.last < b.first) open.pop();
    for (const j of open) pairs.push([j, i]);
    open.push(i);
  }
  return pairs;
}
