/**
 * Gateway packing: place every source disk of a wave on a sync gateway, many-to-one, exactly once,
 * with at most `maxDisks` disks and `maxBytes` bytes per gateway, keeping a VM's disks on one
 * gateway whenever they fit together (so a rehearsal point is taken on one gateway).
 *
 * The method is "least-loaded fit decreasing": VMs (then loose disks) from the largest down, each
 * onto the gateway carrying the fewest bytes that still has room, a new gateway when none has.
 * When a pass needs more gateways than it started with, it runs again spread over that many from
 * the start, so the last gateway is not a nearly empty one opened for the leftovers.
 * A min-heap keeps each pass O(n log n) for tens of thousands of disks.
 */

/** One disk to place. */
export interface PackItem {
  readonly id: string;
  /** Bytes the disk takes on a gateway (its capacity). */
  readonly bytes: number;
  /** The VM it belongs to; disks of one group stay together when they fit on one gateway. */
  readonly group: string;
}

/** Limits of one gateway. */
export interface PackLimits {
  readonly maxDisks: number;
  readonly maxBytes: number;
  /**
   * Gateways to spread over at least, e.g. so that their throughput caps add up to the link's.
   * @default 1
   */
  readonly minBins?: number;
}

/** The result: gateways in order, each its disks in slot order. */
export interface Packing {
  readonly bins: ReadonlyArray<readonly PackItem[]>;
  /** Groups whose disks could not stay on one gateway (more disks or bytes than one carries). */
  readonly splitGroups: readonly string[];
}

interface Unit {
  readonly items: readonly PackItem[];
  readonly bytes: number;
  readonly order: number;
}

interface Bin {
  readonly index: number;
  readonly items: PackItem[];
  bytes: number;
}

/** Packs `items` onto as few, evenly loaded gateways as the limits allow. Deterministic. */
export function packDisks(items: readonly PackItem[], limits: PackLimits): Packing {
  if (!(limits.maxDisks >= 1)) throw new RangeError("maxDisks must be at least 1");
  const groups = new Map<string, PackItem[]>();
  for (const item of items) {
    const list = groups.get(item.group);
    if (list) list.push(item);
    else groups.set(item.group, [item]);
  }
  const units: Unit[] = [];
  const splitGroups: string[] = [];
  for (const [group, list] of groups) {
    const bytes = list.reduce((sum, i) => sum + i.bytes, 0);
    if (list.length <= limits.maxDisks && bytes <= limits.maxBytes) {
      units.push({ items: list, bytes, order: units.length });
    } else {
      splitGroups.push(group);
      for (const item of list) units.push({ items: [item], bytes: item.bytes, order: units.length });
    }
  }
  units.sort((a, b) => b.bytes - a.bytes || a.order - b.order);

  const totalBytes = units.reduce((sum, u) => sum + u.bytes, 0);
  let count = Math.min(units.length, Math.max(limits.minBins ?? 1, Math.ceil(items.length / limits.maxDisks), Math.ceil(totalBytes / limits.maxBytes)));
  // Each further pass starts with strictly more gateways, at most one per unit: this ends.
  for (;;) {
    const bins = spread(units, count, limits);
    if (bins.length <= count) return { bins: bins.filter((b) => b.length > 0), splitGroups };
    count = bins.length;
  }
}

/** One pass: `units` (largest first) over `count` gateways, opening more when none has room. */
function spread(units: readonly Unit[], count: number, limits: PackLimits): PackItem[][] {
  const bins: Bin[] = [];
  const heap = new BinHeap();
  for (let i = 0; i < count; i++) {
    const bin: Bin = { index: i, items: [], bytes: 0 };
    bins.push(bin);
    heap.push(bin);
  }
  const stash: Bin[] = [];
  for (const unit of units) {
    let placed = false;
    for (;;) {
      const bin = heap.pop();
      if (!bin) break;
      if (bin.items.length >= limits.maxDisks) continue; // Full for good.
      if (bin.items.length + unit.items.length > limits.maxDisks) {
        stash.push(bin);
        continue;
      }
      if (bin.bytes + unit.bytes > limits.maxBytes && bin.items.length > 0) {
        // The least-loaded gateway with room is too full: so is every other.
        stash.push(bin);
        break;
      }
      bin.items.push(...unit.items);
      bin.bytes += unit.bytes;
      heap.push(bin);
      placed = true;
      break;
    }
    for (const bin of stash) heap.push(bin);
    stash.length = 0;
    if (!placed) {
      const bin: Bin = { index: bins.length, items: [...unit.items], bytes: unit.bytes };
      bins.push(bin);
      heap.push(bin);
    }
  }
  return bins.map((b) => b.items);
}

/** Min-heap of bins by bytes carried, then creation order. */
class BinHeap {
  private readonly data: Bin[] = [];

  push(bin: Bin): void {
    const d = this.data;
    d.push(bin);
    let i = d.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(d[i]!, d[parent]!)) break;
      [d[i], d[parent]] = [d[parent]!, d[i]!];
      i = parent;
    }
  }

  pop(): Bin | undefined {
    const d = this.data;
    if (d.length === 0) return undefined;
    const top = d[0]!;
    const last = d.pop()!;
    if (d.length > 0) {
      d[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < d.length && less(d[l]!, d[m]!)) m = l;
        if (r < d.length && less(d[r]!, d[m]!)) m = r;
        if (m === i) break;
        [d[i], d[m]] = [d[m]!, d[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: Bin, b: Bin): boolean {
  return a.bytes < b.bytes || (a.bytes === b.bytes && a.index < b.index);
}
