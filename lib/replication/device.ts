/**
 * A block device the copier reads from or writes to: an NBD export (see `nbd/`) or a local file
 * or block device. Offsets and lengths are bytes; disks up to 2^53 bytes.
 */

/** A byte range. */
export interface Extent {
  readonly offset: number;
  readonly length: number;
}

/** One extent of an NBD_CMD_BLOCK_STATUS reply, flags as the metadata context defines them. */
export interface StatusExtent extends Extent {
  readonly flags: number;
}

/** `base:allocation` flags. */
export const NBD_STATE_HOLE = 1;
export const NBD_STATE_ZERO = 2;
/** `qemu:dirty-bitmap:NAME` flag. */
export const NBD_STATE_DIRTY = 1;

/**
 * What a device can do, fixed when it is opened: for NBD, what the handshake negotiated
 * (NBD_INFO_BLOCK_SIZE, the transmission flags, the metadata contexts); for a file, what the file
 * device supports. The copier asks these and never which kind of device it holds.
 */
export interface DeviceCaps {
  /** Block-size constraints (NBD_INFO_BLOCK_SIZE; 1 / 4096 / 32 MiB when not advertised). */
  readonly minimumBlockSize: number;
  readonly preferredBlockSize: number;
  readonly maximumBlockSize: number;
  readonly readOnly: boolean;
  readonly canFlush: boolean;
  readonly canTrim: boolean;
  readonly canWriteZeroes: boolean;
  readonly canFastZero: boolean;
  /** Whether several connections to the same export see one consistent disk. */
  readonly canMultiConn: boolean;
  /** Metadata contexts negotiated (`base:allocation`, `qemu:dirty-bitmap:NAME`). */
  readonly metaContexts: readonly string[];
}

export interface BlockDevice {
  /** Size in bytes. */
  readonly size: number;
  /** What the device can do. */
  readonly caps: DeviceCaps;

  /** Reads `length` bytes at `offset`, into `into` when given (which must be at least `length` long). */
  read(offset: number, length: number, into?: Buffer): Promise<Buffer>;
  write(offset: number, data: Buffer): Promise<void>;
  /** Writes zeroes; `noHole` keeps the range allocated; `fastZero` fails instead of falling back to a slow write. */
  writeZeroes(offset: number, length: number, options?: { noHole?: boolean; fastZero?: boolean }): Promise<void>;
  trim(offset: number, length: number): Promise<void>;
  flush(): Promise<void>;
  /** Extents of one negotiated metadata context covering at least part of [offset, offset+length). */
  blockStatus(context: string, offset: number, length: number): Promise<StatusExtent[]>;
  /** Waits for the requests in flight, then closes. */
  close(): Promise<void>;
  /** Stops at once: requests in flight fail (a round being aborted lets go of its disks). */
  destroy(reason: string): void;
}
