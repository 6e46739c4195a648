/**
 * The floor of the replication benchmark: how fast this machine makes N bytes of data durable in
 * a new file when nothing is read and no protocol is spoken. No copier that writes the same data
 * with the same durability can finish sooner, so `peer time / floor` is the largest ratio any
 * copier could reach against that peer in the same run.
 *
 * `node replication-floor.js direct BYTES FILE`: aligned 8 MiB writes with `O_DIRECT`, 8 at a time
 * (run it with UV_THREADPOOL_SIZE=16 so all 8 are in the kernel at once), then `fdatasync`.
 * `node replication-floor.js buffered BYTES FILE`: 256 KiB writes through the page cache, 4 at a
 * time (what nbdkit's file plugin does with a copier's writes), then `fdatasync`.
 *
 * Prints `{"seconds":S}`, timed from opening the file to the end of `fdatasync` (filling the
 * buffers with random data and the process start are not counted).
 */
import { randomFillSync } from "node:crypto";
import * as fs from "node:fs";

const MODES = {
  direct: { size: 8 * 1024 * 1024, depth: 8, flags: fs.constants.O_DIRECT },
  buffered: { size: 256 * 1024, depth: 4, flags: 0 },
} as const;

async function run(): Promise<void> {
  const [mode, bytesText, file] = process.argv.slice(2);
  const settings = MODES[mode as keyof typeof MODES];
  const bytes = Number(bytesText);
  if (settings === undefined || !Number.isSafeInteger(bytes) || bytes <= 0 || file === undefined) {
    throw new Error("usage: replication-floor direct|buffered BYTES FILE");
  }
  // One WebAssembly.Memory is mapped on a page boundary, so its slices are aligned for O_DIRECT.
  const memory = new WebAssembly.Memory({ initial: (settings.size * settings.depth) / 65536 });
  const buffers = Array.from({ length: settings.depth }, (_, i) => randomFillSync(Buffer.from(memory.buffer, i * settings.size, settings.size)));
  const started = performance.now();
  const handle = await fs.promises.open(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | settings.flags);
  try {
    let next = 0;
    await Promise.all(
      buffers.map(async (buffer) => {
        while (next < bytes) {
          const offset = next;
          next += settings.size;
          await handle.write(buffer, 0, Math.min(settings.size, bytes - offset), offset);
        }
      }),
    );
    await handle.datasync();
  } finally {
    await handle.close();
  }
  process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - started) / 1000 })}\n`);
}

run().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
