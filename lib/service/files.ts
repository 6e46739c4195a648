/**
 * Files a service keeps in its state directory, written atomically: a write goes to a temporary
 * file that is fsynced and renamed over the old one, then the directory is fsynced, so a crash at
 * any moment leaves either the old or the new content.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Writes `data` to `file` atomically (see the module comment). A failure (a full disk) leaves the
 * old content and no temporary file. With `backup`, the old content stays as `FILE.bak`.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600, backup = false): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const fd = fs.openSync(tmp, "w", mode);
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (backup && fs.existsSync(file)) {
      fs.rmSync(`${file}.bak`, { force: true });
      fs.linkSync(file, `${file}.bak`);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  const dirFd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
