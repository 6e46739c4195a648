/**
 * What the commands that run a service (`rehost agent`, `rehost proxy`) share: the check of their
 * `--listen` address, and serving until SIGINT or SIGTERM once they say where they listen.
 */
import { problem, type Problem } from "../problems";

/** `--listen HOST:PORT` read: the host (an IPv6 address without its brackets), the port, and what is wrong with it. */
export function listenAddress(value: string, example: string): { host: string; port: number; problems: Problem[] } {
  const problems: Problem[] = [];
  const listen = /^(.+):(\d{1,5})$/.exec(value);
  const port = listen === null ? NaN : Number(listen[2]);
  if (listen === null || port > 65535) {
    problems.push(
      problem({
        field: "--listen",
        received: value,
        expected: "HOST:PORT with a port up to 65535",
        fix: `e.g. --listen ${example}`,
        message: "The listen address is not HOST:PORT.",
      }),
    );
  }
  return { host: listen === null ? "" : listen[1].replace(/^\[|\]$/g, ""), port, problems };
}

/** A started service, as `startAgent` and `startProxy` give it. */
export interface RunningService {
  readonly url: string;
  readonly fingerprint: string;
  readonly tokenFile: string;
  close(): Promise<void>;
}

/**
 * Prints (on stderr) where the service listens, its certificate's fingerprint and where its token
 * is, waits for SIGINT or SIGTERM, then closes it.
 */
export async function serveUntilSignal(command: string, service: RunningService): Promise<void> {
  process.stderr.write(
    `rehost ${command}: listening on ${service.url}\nrehost ${command}: certificate SHA-256 fingerprint ${service.fingerprint}\nrehost ${command}: bearer token in ${service.tokenFile}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await service.close();
}
