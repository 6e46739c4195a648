/**
 * The few IPv4 checks the loaders need to reject malformed input. Subnet arithmetic (overlaps,
 * reserved addresses, membership) belongs to the planner in `lib/plan`.
 */

const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** Whether `text` is a dotted IPv4 address without leading zeros (`10.10.1.21`). */
export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

/** The address as an unsigned 32-bit number; the caller has checked `isIpv4`. */
export function ipv4ToNumber(text: string): number {
  return text.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Dotted form of an unsigned 32-bit number. */
export function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/** A parsed IPv4 CIDR. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  /** First address of the block, as a number. */
  readonly network: number;
  /** Number of addresses in the block. */
  readonly size: number;
}

/** Parses `a.b.c.d/n`; `undefined` when malformed. Host bits may be set (see `isNetworkAddress`). */
export function parseCidr(text: string): Cidr | undefined {
  const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  if (!match || !isIpv4(match[1]!)) return undefined;
  const prefix = Number(match[2]);
  if (prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const network = Math.floor(ipv4ToNumber(match[1]!) / size) * size;
  return { address: match[1]!, prefix, network, size };
}

/** Whether the CIDR's address is its network address (`10.1.1.0/24`, not `10.1.1.5/24`). */
export function isNetworkAddress(cidr: Cidr): boolean {
  return ipv4ToNumber(cidr.address) === cidr.network;
}

/** The CIDR written with its network address. */
export function canonicalCidr(cidr: Cidr): string {
  return `${numberToIpv4(cidr.network)}/${cidr.prefix}`;
}

/** Whether `ip` lies inside `cidr`. */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const value = ipv4ToNumber(ip);
  return value >= cidr.network && value < cidr.network + cidr.size;
}

/** Whether the address is link-local (169.254.0.0/16), which never identifies a VM. */
export function isLinkLocal(ip: string): boolean {
  return ip.startsWith("169.254.");
}
