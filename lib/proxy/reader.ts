/**
 * Reading a snapshot's frozen disk on the proxy, locally: an nbdkit server per disk and round,
 * listening on a unix socket of the proxy's, read with rehost's NBD client.
 *
 * - `curl` (the default): nbdkit's curl plugin over vCenter's datastore HTTP interface
 *   (`https://vcenter/folder/<vm>/<disk>-flat.vmdk?dcPath=<datacenter>&dsName=<datastore>`,
 *   HTTP Range reads), authenticated with the proxy's vCenter session cookie, which nbdkit reads
 *   again every minute from a file of mode 0600 the proxy keeps current (`cookie-script=`,
 *   `cookie-script-renew=`), trusting vCenter's CA (`cainfo=`; with a pinned thumbprint, the very
 *   certificate that matched it).
 * - `vddk`: nbdkit's vddk plugin with VMware's Virtual Disk Development Kit, where the user has it
 *   (it cannot be had here): `libdir=`, the host, the user, `password=+FILE`, the certificate's
 *   SHA-1 thumbprint, the VM and snapshot by managed object id and the disk's descriptor.
 *
 * nbdkit runs in the foreground as a child of the proxy (`--exit-with-parent`, stopped by PID),
 * read-only.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BlockDevice } from "../replication/device";
import { connectNbd } from "../replication/nbd";
import { ProcessGroup, type Owned } from "../service/processes";

/** How the proxy reads disks. */
export type ReaderKind = "curl" | "vddk";

/** What a reader of one frozen disk needs. */
export interface DiskSource {
  /** `https://vcenter.example.com`. */
  readonly baseUrl: string;
  readonly datacenter: string;
  readonly datastore: string;
  /** The data file inside the datastore: `web-01/web-01-flat.vmdk`. */
  readonly flatPath: string;
  /** The descriptor, `[datastore] web-01/web-01.vmdk` (VDDK opens it). */
  readonly fileName: string;
  readonly vmMoref: string;
  readonly snapshotMoref: string;
}

/** How the reader reaches vCenter. */
export interface ReaderSettings {
  readonly kind: ReaderKind;
  /** The file holding the vCenter session cookie (curl; the proxy keeps it current). */
  readonly cookieFile?: string;
  /** PEM CA file vCenter's certificate chains to. @default - the system's */
  readonly caFile?: string;
  /** Do not verify vCenter's certificate (labs only). */
  readonly insecure?: boolean;
  /** VDDK: its `lib64` directory, the user, a file holding the password, the SHA-1 thumbprint. */
  readonly vddk?: { readonly libdir: string; readonly user: string; readonly passwordFile: string; readonly thumbprint: string };
}

/** The datastore HTTP URL of a disk's data file. */
export function datastoreUrl(source: DiskSource): string {
  const file = source.flatPath.split("/").map(encodeURIComponent).join("/");
  return `${source.baseUrl.replace(/\/$/, "")}/folder/${file}?dcPath=${encodeURIComponent(source.datacenter)}&dsName=${encodeURIComponent(source.datastore)}`;
}

/** How often nbdkit reads the session cookie again, seconds. */
export const COOKIE_RENEW_SECONDS = 60;

/** nbdkit's PID file beside its socket: it exists once nbdkit accepts connections. */
const pidFile = (socket: string): string => `${socket}.pid`;

/** nbdkit's arguments before the plugin's: foreground, read-only, stopped with the proxy, on `socket`. */
function serverArgs(socket: string): string[] {
  return [
    "-f",
    "-r",
    "--exit-with-parent",
    // nbdkit writes its PID file once it accepts connections (the socket file exists earlier).
    "-P",
    pidFile(socket),
    "-U",
    socket,
  ];
}

/** nbdkit's arguments for the curl plugin. */
export function curlArgs(source: DiskSource, socket: string, settings: ReaderSettings): string[] {
  if (settings.cookieFile === undefined) throw new Error("The curl reader needs the file of the vCenter session cookie.");
  return [
    ...serverArgs(socket),
    "curl",
    `url=${datastoreUrl(source)}`,
    `cookie-script=cat '${settings.cookieFile.replace(/'/g, "'\\''")}'`,
    `cookie-script-renew=${COOKIE_RENEW_SECONDS}`,
    ...(settings.caFile !== undefined ? [`cainfo=${settings.caFile}`] : []),
    ...(settings.insecure === true ? ["sslverify=false"] : []),
    // Range reads of a megabyte or more; no retries hidden from the copier.
    "timeout=120",
  ];
}

/** nbdkit's arguments for the vddk plugin. */
export function vddkArgs(source: DiskSource, socket: string, settings: ReaderSettings): string[] {
  const vddk = settings.vddk;
  if (vddk === undefined) throw new Error("The vddk reader needs --vddk-libdir, the vCenter user, a password file and the thumbprint.");
  return [
    ...serverArgs(socket),
    "vddk",
    `libdir=${vddk.libdir}`,
    `server=${new URL(source.baseUrl).hostname}`,
    `user=${vddk.user}`,
    `password=+${vddk.passwordFile}`,
    `thumbprint=${vddk.thumbprint}`,
    `vm=moref=${source.vmMoref}`,
    `snapshot=${source.snapshotMoref}`,
    "transports=nbdssl:nbd",
    `file=${source.fileName}`,
  ];
}

/** An open reader: the frozen disk as a block device, and its server. */
export interface Reader {
  readonly device: BlockDevice;
  close(): Promise<void>;
}

/** Starts nbdkit for `source` in `dir` and connects to it; resolves once it serves. */
export async function openReader(group: ProcessGroup, dir: string, source: DiskSource, settings: ReaderSettings): Promise<Reader> {
  const name = `${source.snapshotMoref}-${path.basename(source.flatPath).replace(/[^A-Za-z0-9._-]/g, "_")}-${process.hrtime.bigint()}`;
  const socket = path.join(dir, `${name}.sock`);
  const args = settings.kind === "curl" ? curlArgs(source, socket, settings) : vddkArgs(source, socket, settings);
  let server: (Owned & { stderr: () => string }) | undefined;
  try {
    server = group.spawn(`nbdkit ${settings.kind} ${source.flatPath}`, "nbdkit", args);
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(pidFile(socket))) {
      if (server.child.exitCode !== null)
        throw new Error(`nbdkit could not open ${source.fileName} through ${settings.kind}: ${server.stderr().trim() || `exit code ${server.child.exitCode}`}`);
      if (Date.now() > deadline) throw new Error(`nbdkit did not start serving ${source.fileName} within 30 s: ${server.stderr().trim()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const started = server;
    const device = await connectNbd(`nbd+unix:///?socket=${socket}`, { readOnly: true }).catch((err: unknown) => {
      // The plugin opens the disk when the client asks for it: its reason is on nbdkit's stderr.
      const reason = started.stderr().trim();
      throw new Error(`nbdkit could not open ${source.fileName} through ${settings.kind}: ${reason || (err as Error).message}`);
    });
    return {
      device,
      async close() {
        await device.close().catch(() => undefined);
        await group.stop(started);
        fs.rmSync(socket, { force: true });
        fs.rmSync(pidFile(socket), { force: true });
      },
    };
  } catch (err) {
    if (server !== undefined) await group.stop(server);
    fs.rmSync(socket, { force: true });
    fs.rmSync(pidFile(socket), { force: true });
    throw err;
  }
}
