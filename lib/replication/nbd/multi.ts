/**
 * Several connections to one export used as one {@link BlockDevice}, when the server says they
 * see one consistent disk (`NBD_FLAG_CAN_MULTI_CONN`); one connection otherwise. Each request goes
 * to the connection with the fewest requests in flight.
 */
import type { BlockDevice, DeviceCaps, StatusExtent } from "../device";
import { NbdClient } from "./client";

/** A {@link BlockDevice} over one or more connections to the same export. */
export class NbdMultiClient implements BlockDevice {
  readonly size: number;
  /** The first connection's: every connection opens the same export with the same options. */
  readonly caps: DeviceCaps;

  /** @internal Use `connectNbdMulti`. */
  constructor(
    /** The open connections (one when the server does not allow multi-conn). */
    readonly connections: readonly NbdClient[],
  ) {
    const first = connections[0];
    this.size = first.size;
    this.caps = first.caps;
  }

  /** Requests in flight over all connections. */
  get inFlight(): number {
    return this.connections.reduce((sum, c) => sum + c.inFlight, 0);
  }

  read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    return this.pick().read(offset, length, into);
  }

  write(offset: number, data: Buffer): Promise<void> {
    return this.pick().write(offset, data);
  }

  writeZeroes(offset: number, length: number, options?: { noHole?: boolean; fastZero?: boolean }): Promise<void> {
    return this.pick().writeZeroes(offset, length, options);
  }

  trim(offset: number, length: number): Promise<void> {
    return this.pick().trim(offset, length);
  }

  /** Flushes every connection, so that every write completed before the call is durable. */
  async flush(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.flush()));
  }

  blockStatus(context: string, offset: number, length: number): Promise<StatusExtent[]> {
    return this.pick().blockStatus(context, offset, length);
  }

  /** Closes every connection (each after its requests in flight). */
  async close(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.close()));
  }

  /** Closes every connection at once. */
  destroy(reason?: string): void {
    for (const c of this.connections) c.destroy(reason);
  }

  private pick(): NbdClient {
    let best = this.connections[0];
    for (let i = 1; i < this.connections.length; i++) {
      if (this.connections[i].inFlight < best.inFlight) best = this.connections[i];
    }
    return best;
  }
}
