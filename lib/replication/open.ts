/**
 * Opening a disk by its spec: an NBD URI as libnbd writes them (`nbd://`, `nbds://`,
 * `nbd+unix://`, `nbds+unix://`) or a local file / block device path.
 */
import * as fs from "node:fs";
import { InputError, problem } from "../problems";
import type { BlockDevice } from "./device";
import { openFileDevice } from "./file-device";
import { connectNbd } from "./nbd";

/** Options of `openDevice`. */
export interface OpenDeviceOptions {
  /** Open for writing. @default false - read-only */
  readonly write?: boolean;
  /** NBD metadata contexts to negotiate; opening fails when the export lacks one (local files have none). */
  readonly metaContexts?: readonly string[];
  /** NBD metadata contexts to negotiate when the export offers them. */
  readonly optionalMetaContexts?: readonly string[];
  /** For a local path that does not exist: create a sparse file of this size (implies `write`). */
  readonly createSize?: number;
  /** Aborting destroys the connection: requests in flight fail at once. */
  readonly signal?: AbortSignal;
  /** NBD: fail when the server leaves requests unanswered this long (ms). @default 120000 */
  readonly idleTimeoutMs?: number;
}

/** Whether `spec` is an NBD URI. */
export function isNbdUri(spec: string): boolean {
  return /^nbds?(\+[a-z]+)?:\/\//i.test(spec);
}

/**
 * Opens `spec` as a `BlockDevice`. Failures to reach or open it (malformed URI, unreachable
 * server, refused TLS, missing file) are `InputError`s naming the spec.
 */
export async function openDevice(spec: string, options: OpenDeviceOptions = {}): Promise<BlockDevice> {
  const write = options.write === true || options.createSize !== undefined;
  if (isNbdUri(spec)) {
    const required = [...(options.metaContexts ?? [])];
    const optional = (options.optionalMetaContexts ?? []).filter((c) => !required.includes(c));
    try {
      try {
        return await connectNbd(spec, {
          readOnly: !write,
          metaContexts: [...required, ...optional],
          signal: options.signal,
          idleTimeoutMs: options.idleTimeoutMs,
        });
      } catch (err) {
        if (optional.length === 0 || (err as { code?: string }).code !== "ENOCONTEXT") throw err;
        // Retry without the optional contexts; a missing required one fails again and is reported.
        return await connectNbd(spec, { readOnly: !write, metaContexts: required, signal: options.signal, idleTimeoutMs: options.idleTimeoutMs });
      }
    } catch (err) {
      throw asInputError(err, spec, "cannot connect to the NBD server", "check the URI, that the server runs and listens there, and its TLS settings");
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    throw new InputError(
      problem({
        file: spec,
        received: spec.slice(0, spec.indexOf(":")),
        expected: "nbd, nbds, nbd+unix or nbds+unix, or a local path",
        fix: "give an NBD URI such as nbd://host:10809/export or a file path",
        message: "The disk's URI scheme is not supported",
      }),
    );
  }
  if (options.createSize === undefined && !fs.existsSync(spec)) {
    throw new InputError(problem({ file: spec, message: "The disk does not exist", expected: "an existing file or block device", fix: "check the path" }));
  }
  try {
    return await openFileDevice(spec, { write, createSize: options.createSize });
  } catch (err) {
    throw asInputError(
      err,
      spec,
      "cannot open the disk",
      write ? "check that the path is a writable file or block device" : "check that the path is a readable file or block device",
    );
  }
}

/** Connection and open failures (errors with an errno-style code) become `InputError`s; bugs stay errors. */
function asInputError(err: unknown, spec: string, what: string, fix: string): unknown {
  if (err instanceof InputError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string") return err;
  const text = err instanceof Error ? err.message : String(err);
  const reason = code !== undefined && !text.includes(code) ? `${code}: ${text}` : text;
  return new InputError(problem({ file: spec, message: `${capitalize(what)}: ${reason.replace(/\s+/g, " ").replace(/\.$/, "")}`, fix }));
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
