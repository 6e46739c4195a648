/**
 * Requests that change a job while its round is copying (a freeze, a thaw of a pending freeze, a
 * new way to reach the source) change the record the round in flight writes to: the round is
 * copied once and recorded, and the request holds after it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JobStatus } from "../../lib/agent/api";
import type { DataPlane } from "../../lib/agent/data-plane";
import { JobManager } from "../../lib/agent/jobs";
import { Scheduler } from "../../lib/agent/scheduler";
import { StateDir } from "../../lib/agent/store";
import { silentLogger } from "../../lib/service/log";
import { removeDir, tempDir } from "../helpers/tmp";
import { until } from "./fixtures";

const SIZE = 4 * 1024 * 1024;

/** A data plane whose first copy waits until `release()` (or its abort); it counts copies. */
function heldDataPlane(): { plane: DataPlane; copies: () => number; copying: () => boolean; release: () => void } {
  let copies = 0;
  let waiting: (() => void) | undefined;
  const plane: DataPlane = {
    async sync(o) {
      copies++;
      if (copies === 1) {
        await new Promise<void>((resolve) => {
          waiting = resolve;
          o.signal?.addEventListener("abort", () => resolve());
        });
        waiting = undefined;
      }
      return { bytesRead: SIZE, bytesWritten: SIZE, bytesZeroed: 0, bytesSkipped: 0, seconds: 0.1, resumed: false } as Awaited<ReturnType<DataPlane["sync"]>>;
    },
    async digest(_spec, length) {
      return { algorithm: "sha256-blocks-1MiB", digest: "d".repeat(64), size: length ?? SIZE };
    },
    async size() {
      return SIZE;
    },
  };
  return { plane, copies: () => copies, copying: () => waiting !== undefined, release: () => waiting?.() };
}

describe("a request while a round copies", () => {
  let dir: string | undefined;
  let jobs: JobManager | undefined;
  afterEach(async () => {
    await jobs?.close();
    if (dir !== undefined) removeDir(dir);
  });

  const cases: Array<{ what: string; request: (jobs: JobManager) => void; after: Partial<JobStatus> }> = [
    { what: "a freeze", request: (j) => j.freeze("disk", "point-1"), after: { state: "frozen", frozenFor: "point-1" } },
    {
      what: "a freeze thawed before the round ends",
      request: (j) => {
        j.freeze("disk", "point-1");
        j.thaw("disk", "point-1");
      },
      after: { state: "idle", frozenFor: undefined },
    },
    {
      what: "a new source",
      request: (j) => j.updateSource("disk", { uri: "nbd://other.example/disk" }),
      after: { state: "idle", source: { uri: "nbd://other.example/disk" } },
    },
  ];

  it.each(cases)("$what: the round is copied once and recorded", async ({ request, after }) => {
    dir = tempDir("rehost-agent-live-record-");
    const target = path.join(dir, "target.raw");
    fs.writeFileSync(target, "");
    fs.truncateSync(target, SIZE);
    const state = new StateDir(path.join(dir, "state"));
    state.ensure();
    const held = heldDataPlane();
    jobs = new JobManager({ state, scheduler: new Scheduler(1), dataPlane: held.plane, logger: silentLogger, allow: [target], retryDelayMs: 10 });
    jobs.register({ id: "disk", source: { uri: "nbd://source.example/disk" }, target, initial: "full" });
    await until("the initial round to copy", async () => (held.copying() ? true : undefined));

    request(jobs);
    held.release();
    const status = await until("the round to be recorded", async () => {
      const s = jobs!.get("disk");
      return s.lastRound !== undefined && s.active === undefined ? s : undefined;
    });
    // Long enough for a second copy of the round to start, were one queued.
    await new Promise((r) => setTimeout(r, 200));

    expect(held.copies()).toBe(1);
    expect(jobs.get("disk")).toMatchObject({ ...after, active: undefined, lastRound: { round: 0 } });
    expect(status.rounds.map((r) => r.round)).toEqual([0]);
    const saved = JSON.parse(fs.readFileSync(state.jobFile("disk"), "utf8")) as { active?: unknown; lastRound?: { round: number } };
    expect(saved.active).toBeUndefined();
    expect(saved.lastRound?.round).toBe(0);
  });
});
