import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cidrContains,
  cidrCovers,
  cidrOf,
  cidrsOverlap,
  commonCover,
  findOverlaps,
  intToIp,
  ipToInt,
  isAlibabaReserved,
  isLinkLocal,
  parseCidr,
  usableRange,
} from "../../lib/net";

const ipNumber = fc.integer({ min: 0, max: 0xffffffff });
const block = fc.tuple(ipNumber, fc.integer({ min: 0, max: 32 })).map(([v, p]) => cidrOf(v, p));

describe("ipToInt / intToIp", () => {
  it.each([
    ["0.0.0.0", 0],
    ["10.1.1.1", 167837953],
    ["192.168.0.255", 3232235775],
    ["255.255.255.255", 4294967295],
  ])("%s ↔ %d", (ip, value) => {
    expect(ipToInt(ip)).toBe(value);
    expect(intToIp(value)).toBe(ip);
  });

  it.each(["10.1.1", "10.1.1.256", "010.1.1.1", "a.b.c.d", "", "10.1.1.1 "])("rejects %j", (ip) => {
    expect(() => ipToInt(ip)).toThrow(RangeError);
  });

  it("round-trips every address", () => {
    fc.assert(fc.property(ipNumber, (v) => ipToInt(intToIp(v)) === v));
  });
});

describe("parseCidr", () => {
  it.each([
    ["10.1.1.0/24", { first: ipToInt("10.1.1.0"), last: ipToInt("10.1.1.255"), size: 256, prefix: 24 }],
    ["0.0.0.0/0", { first: 0, last: 0xffffffff, size: 2 ** 32, prefix: 0 }],
    ["172.16.0.0/12", { first: ipToInt("172.16.0.0"), last: ipToInt("172.31.255.255"), size: 2 ** 20, prefix: 12 }],
    ["10.0.0.7/32", { first: ipToInt("10.0.0.7"), last: ipToInt("10.0.0.7"), size: 1, prefix: 32 }],
  ])("parses %s", (text, expected) => {
    expect(parseCidr(text)).toMatchObject({ text, ...expected });
  });

  it.each(["10.1.1.5/24", "10.1.1.0/33", "10.1.1.0", "10.1.1.0/024", "10.1.1.0/-1", "x/24", "10.1.1.0/2 4"])("rejects %j", (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });

  it("parses the canonical text of every block back to the same block", () => {
    fc.assert(
      fc.property(block, (b) => {
        expect(parseCidr(b.text)).toEqual(b);
      }),
    );
  });
});

describe("cidrContains / cidrsOverlap / cidrCovers", () => {
  it.each([
    ["10.1.1.0/24", "10.1.1.0", true],
    ["10.1.1.0/24", "10.1.1.255", true],
    ["10.1.1.0/24", "10.1.2.0", false],
    ["10.1.0.0/23", "10.1.1.7", true],
    ["10.1.1.0/29", "10.1.1.8", false],
  ])("%s contains %s: %s", (cidr, ip, expected) => {
    expect(cidrContains(cidr, ip)).toBe(expected);
  });

  it.each([
    ["10.1.0.0/16", "10.1.5.0/24", true],
    ["10.1.5.0/24", "10.1.0.0/16", true],
    ["10.1.1.0/24", "10.1.2.0/24", false],
    ["10.1.0.0/23", "10.1.1.0/24", true],
    ["172.30.0.0/27", "172.30.0.32/27", false],
    ["100.64.0.0/10", "100.100.0.0/16", true],
  ])("%s overlaps %s: %s", (a, b, expected) => {
    expect(cidrsOverlap(a, b)).toBe(expected);
  });

  it("overlap is symmetric and equals sharing an address", () => {
    fc.assert(
      fc.property(block, block, (a, b) => {
        const shared = Math.max(a.first, b.first) <= Math.min(a.last, b.last);
        return cidrsOverlap(a, b) === shared && cidrsOverlap(b, a) === shared;
      }),
    );
  });

  it("two CIDR blocks either nest or are disjoint", () => {
    fc.assert(fc.property(block, block, (a, b) => !cidrsOverlap(a, b) || cidrCovers(a, b) || cidrCovers(b, a)));
  });

  it("a block contains exactly the addresses between its bounds", () => {
    fc.assert(fc.property(block, ipNumber, (b, v) => cidrContains(b, v) === (v >= b.first && v <= b.last)));
  });

  it.each([
    ["169.254.0.0", true],
    ["169.254.12.7", true],
    ["169.254.255.255", true],
    ["169.253.255.255", false],
    ["169.255.0.0", false],
    ["10.1.1.7", false],
  ])("isLinkLocal(%s) is %s", (ip, expected) => {
    expect(isLinkLocal(ip)).toBe(expected);
  });
});

describe("Alibaba reserved addresses and usable range", () => {
  it.each([
    ["10.1.1.0/24", "10.1.1.0", true],
    ["10.1.1.0/24", "10.1.1.1", false],
    ["10.1.1.0/24", "10.1.1.252", false],
    ["10.1.1.0/24", "10.1.1.253", true],
    ["10.1.1.0/24", "10.1.1.254", true],
    ["10.1.1.0/24", "10.1.1.255", true],
    ["10.1.0.0/23", "10.1.0.255", false],
    ["10.1.0.0/23", "10.1.1.0", false],
    ["10.1.0.0/23", "10.1.1.253", true],
    ["192.168.7.8/29", "192.168.7.8", true],
    ["192.168.7.8/29", "192.168.7.12", false],
    ["192.168.7.8/29", "192.168.7.13", true],
  ])("in %s, %s is reserved: %s", (cidr, ip, expected) => {
    expect(isAlibabaReserved(cidr, ip)).toBe(expected);
  });

  it.each([
    ["10.1.1.0/24", { first: "10.1.1.1", last: "10.1.1.252", count: 252 }],
    ["10.0.0.0/16", { first: "10.0.0.1", last: "10.0.255.252", count: 65532 }],
    ["192.168.7.8/29", { first: "192.168.7.9", last: "192.168.7.12", count: 4 }],
  ])("usable range of %s", (cidr, expected) => {
    expect(usableRange(cidr)).toEqual(expected);
  });

  it("has no usable address in a /30 or smaller", () => {
    expect(usableRange("10.0.0.0/30")).toBeUndefined();
  });

  it("every vSwitch block reserves exactly four addresses, and the usable range is the rest", () => {
    const vswitch = fc.tuple(ipNumber, fc.integer({ min: 16, max: 29 })).map(([v, p]) => cidrOf(v, p));
    fc.assert(
      fc.property(vswitch, fc.integer({ min: 0, max: 2 ** 16 - 1 }), (b, offset) => {
        const ip = b.first + (offset % b.size);
        const usable = usableRange(b)!;
        const inUsable = ip >= ipToInt(usable.first) && ip <= ipToInt(usable.last);
        return isAlibabaReserved(b, ip) === !inUsable && usable.count === b.size - 4;
      }),
    );
  });
});

describe("commonCover and findOverlaps", () => {
  it.each([
    [["10.10.1.0/24", "10.10.2.0/24"], "10.10.0.0/22"],
    [["10.20.10.0/24", "10.20.90.0/24"], "10.20.0.0/17"],
    [["172.30.0.0/27"], "172.30.0.0/27"],
    [["10.0.0.0/8", "10.1.0.0/16"], "10.0.0.0/8"],
  ])("cover of %j is %s", (list, expected) => {
    expect(commonCover(list.map((c) => parseCidr(c)!)).text).toBe(expected);
  });

  it("the cover contains every block and is the smallest such block", () => {
    fc.assert(
      fc.property(fc.array(block, { minLength: 1, maxLength: 8 }), (list) => {
        const cover = commonCover(list);
        if (!list.every((b) => cidrCovers(cover, b))) return false;
        if (cover.prefix === 32) return true;
        // Neither half of the cover holds them all.
        const half = cidrOf(cover.first, cover.prefix + 1);
        const otherHalf = cidrOf(cover.first + half.size, cover.prefix + 1);
        return !list.every((b) => cidrCovers(half, b)) && !list.every((b) => cidrCovers(otherHalf, b));
      }),
    );
  });

  it("finds exactly the overlapping pairs a quadratic comparison finds", () => {
    fc.assert(
      fc.property(fc.array(block, { maxLength: 20 }), (list) => {
        const fast = findOverlaps(list)
          .map(([i, j]) => [Math.min(i, j), Math.max(i, j)].join(","))
          .sort();
        const slow: string[] = [];
        for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) if (cidrsOverlap(list[i]!, list[j]!)) slow.push(`${i},${j}`);
        expect(fast).toEqual(slow.sort());
      }),
    );
  });
});
