/**
 * Buffers aligned for direct I/O (`O_DIRECT`), which needs the buffer's address, the file offset
 * and the length to be multiples of the device's logical block size.
 *
 * Node gives no control over a Buffer's address, but a `WebAssembly.Memory` is mapped on a page
 * boundary: buffers cut from it at multiples of `DIRECT_ALIGNMENT` are aligned. The copier takes
 * its pool from here, so the data it reads from the source can be written to a file target
 * without going through the page cache and without a copy.
 */

/** Alignment of buffers, offsets and lengths for direct I/O (the largest logical block size in use). */
export const DIRECT_ALIGNMENT = 4096;
/** WebAssembly pages are 64 KiB. */
const WASM_PAGE = 64 * 1024;
/** The largest pool taken from one `WebAssembly.Memory`; larger pools are ordinary Buffers. */
const MAXIMUM_ALIGNED_POOL = 1024 * 1024 * 1024;

/** The memories buffers were cut from: a Buffer over one of them at an aligned offset is aligned. */
const alignedMemories = new WeakSet<ArrayBufferLike>();

/** Node's WebAssembly, typed here without the DOM library. */
const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;

/**
 * `count` buffers of `size` bytes each. They are aligned to `DIRECT_ALIGNMENT` when the pool fits
 * in `MAXIMUM_ALIGNED_POOL`, otherwise ordinary Buffers (writes from them then take the buffered
 * path). The memory is reserved at once but the kernel backs a page only when it is first used.
 */
export function bufferPool(count: number, size: number): Buffer[] {
  const slot = Math.ceil(size / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
  if (count * slot > MAXIMUM_ALIGNED_POOL) return Array.from({ length: count }, () => Buffer.allocUnsafe(size));
  const memory = new wasm.Memory({ initial: Math.max(1, Math.ceil((count * slot) / WASM_PAGE)) });
  alignedMemories.add(memory.buffer);
  return Array.from({ length: count }, (_, index) => Buffer.from(memory.buffer, index * slot, size));
}

/** Whether `data` may be written with direct I/O: aligned address and length. */
export function isAligned(data: Buffer): boolean {
  return alignedMemories.has(data.buffer) && data.byteOffset % DIRECT_ALIGNMENT === 0 && data.length % DIRECT_ALIGNMENT === 0;
}
