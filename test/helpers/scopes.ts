/**
 * Helpers that register vitest hooks in the test file or `describe` that calls them: a fresh
 * temporary directory for each test, and a scope that stops the servers and closes the clients a
 * test started. Kept apart from tmp.ts and servers.ts, which the benchmarks import outside vitest.
 */
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { removeDir, tempDir } from "./tmp";

/**
 * Called in a test file or a `describe`: before each of its tests a fresh directory made by
 * {@link tempDir} is handed to `use` (which keeps it, and may fill it); after the test it is removed.
 */
export function tempDirEachTest(use: (dir: string) => void, prefix?: string): void {
  let dir: string | undefined;
  beforeEach(() => {
    dir = tempDir(prefix);
    use(dir);
  });
  afterEach(() => {
    if (dir !== undefined) removeDir(dir);
    dir = undefined;
  });
}

/** Something a test started that `stop()` ends. */
export interface Stoppable {
  stop(): Promise<void>;
}

/** Something a test opened that `destroy()` closes at once. */
export interface Destroyable {
  destroy(): void;
}

/** What {@link serverScope} gives a `describe`. */
export interface ServerScope {
  /** The directory made before the first test (servers put their sockets and PID files there). */
  readonly dir: string;
  /** Stops `server` after the test that started it; returns it. */
  server<T extends Stoppable>(server: T): T;
  /** Destroys `client` after the test that opened it (before the servers stop); returns it. */
  client<T extends Destroyable>(client: T): T;
  /** Stops `server` after the describe's last test (for one started in `beforeAll`); returns it. */
  lasting<T extends Stoppable>(server: T): T;
  /** Stops `server` now and forgets it. */
  stop(server: Stoppable): Promise<void>;
}

/**
 * Called inside a `describe`: a directory `<prefix>XXXXXX` made before its first test and removed
 * after its last, and the clients and servers its tests hand over, destroyed and stopped after
 * each test (clients first) so that a failed test leaves no process behind; servers started in
 * `beforeAll` and handed to `lasting` stop after the last test.
 */
export function serverScope(prefix?: string): ServerScope {
  let dir: string | undefined;
  const servers: Stoppable[] = [];
  const clients: Destroyable[] = [];
  const lasting: Stoppable[] = [];
  beforeAll(() => {
    dir = tempDir(prefix);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const s of servers.splice(0)) await s.stop();
  });
  afterAll(async () => {
    for (const s of lasting.splice(0)) await s.stop();
    if (dir !== undefined) removeDir(dir);
  });
  return {
    get dir(): string {
      if (dir === undefined) throw new Error("serverScope's directory exists only while its describe's tests run");
      return dir;
    },
    server: (server) => {
      servers.push(server);
      return server;
    },
    client: (client) => {
      clients.push(client);
      return client;
    },
    lasting: (server) => {
      lasting.push(server);
      return server;
    },
    stop: async (server) => {
      for (const list of [servers, lasting]) if (list.includes(server)) list.splice(list.indexOf(server), 1);
      await server.stop();
    },
  };
}
