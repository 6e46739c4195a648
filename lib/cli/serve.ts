/**
 * What the commands that run a service (`rehost agent`, `rehost proxy`) share once started: saying
 * where they listen, and serving until SIGINT or SIGTERM (their `--listen` check is in flags.ts).
 */
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
