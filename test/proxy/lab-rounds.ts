/**
 * Rounds and cutovers measured by `rehost lab --json --keep` on this machine (2026-12-02, disks ×1,
 * link through the lab's network namespaces), copied from the proxy's `DIR/proxy/vms/*.json` while
 * the run went on (the lab unregisters the VMs at its end). The run shared the machine's two cores
 * with a TypeScript build, so its rounds took about twice an idle run's (whose cutover downtime was
 * 4.2 s for lab-app-01, against 10.4 s here).
 *
 * The lab pauses the guests for its full check (round 7 of lab-app-01, 5 of lab-web-01) and then
 * writes a fixed burst (16 × 64 KiB per disk) before the cutover, whose final round is the last
 * row; the cutover ran without a full check first.
 */
import type { RoundMode, RoundSummary } from "../../lib/proxy/api";

type Row = [round: number, snapshotAt: string, seconds: number, point: string | undefined, disks: Array<[RoundMode, number, number, number, number]>];

const rounds = (rows: Row[]): RoundSummary[] =>
  rows.map(([round, snapshotAt, seconds, point, disks]) => ({
    round,
    snapshotAt,
    finishedAt: new Date(Date.parse(snapshotAt) + seconds * 1000).toISOString(),
    seconds,
    consistency: "quiesced",
    ...(point !== undefined ? { point } : {}),
    disks: disks.map(([mode, changedBytes, linkBytes, hashBytes, bytesRead], i) => ({
      key: 2000 + i,
      jobId: `job-${2000 + i}`,
      mode,
      changedBytes,
      linkBytes,
      hashBytes,
      bytesRead,
      targetDigest: "",
      digestsAgree: true,
    })),
  }));

/** lab-app-01: two disks of 128 and 64 MiB. */
export const LAB_APP_01 = {
  diskSizes: [134217728, 67108864],
  rounds: rounds([
    [
      0,
      "2026-12-02T14:25:32.553Z",
      23.743,
      undefined,
      [
        ["initial", 72744960, 72746709, 0, 158728192],
        ["initial", 30081024, 30082325, 0, 74121216],
      ],
    ],
    [
      1,
      "2026-12-02T14:26:01.886Z",
      12.311,
      undefined,
      [
        ["incremental", 7929856, 7215358, 0, 86573056],
        ["incremental", 7274496, 7083333, 0, 55508992],
      ],
    ],
    [
      2,
      "2026-12-02T14:26:13.841Z",
      6.604,
      undefined,
      [
        ["incremental", 3211264, 3148541, 0, 43057152],
        ["incremental", 3276800, 3082949, 0, 38928384],
      ],
    ],
    [
      3,
      "2026-12-02T14:26:21.105Z",
      5.833,
      undefined,
      [
        ["incremental", 1966080, 1902181, 0, 28180480],
        ["incremental", 1966080, 1967773, 0, 25034752],
      ],
    ],
    [
      4,
      "2026-12-02T14:26:29.538Z",
      4.308,
      "lab-rehearsal-1",
      [
        ["incremental", 1835008, 1640037, 0, 27000832],
        ["incremental", 1769472, 1639925, 0, 23789568],
      ],
    ],
    [
      5,
      "2026-12-02T14:27:10.415Z",
      15.103,
      undefined,
      [
        ["incremental", 9568256, 8789286, 0, 98697216],
        ["incremental", 8978432, 8525854, 0, 56164352],
      ],
    ],
    [
      6,
      "2026-12-02T14:27:24.892Z",
      8.862,
      undefined,
      [
        ["incremental", 4390912, 4001405, 0, 62062592],
        ["incremental", 4128768, 3935477, 0, 39780352],
      ],
    ],
    [
      7,
      "2026-12-02T14:27:34.088Z",
      13.841,
      undefined,
      [
        ["resync", 12582912, 12583597, 4096, 146800640],
        ["resync", 12582912, 12583484, 2048, 79691776],
      ],
    ],
  ]),
  /** The cutover: requested at, its final round (round 8), and the downtime's phases as measured. */
  cutover: {
    requestedAt: "2026-12-02T14:27:52.581Z",
    finalRound: rounds([
      [
        8,
        "2026-12-02T14:27:53.324Z",
        10.18,
        undefined,
        [
          ["incremental", 1048576, 918469, 0, 17825792],
          ["incremental", 1048576, 918469, 0, 17825792],
        ],
      ],
    ])[0],
    downtimeSeconds: 10.443,
    phases: { shutdownSeconds: 0.229, finalRoundSeconds: 8.543, verifySeconds: 1.585, snapshotRemovalSeconds: 0.086 },
    finalDeltaBytes: 2097152,
    verifiedBytes: 61865984,
  },
};

/** lab-web-01: one disk of 128 MiB. */
export const LAB_WEB_01 = {
  diskSizes: [134217728],
  rounds: rounds([
    [0, "2026-12-02T14:25:31.896Z", 13.833, undefined, [["initial", 58589184, 58590821, 0, 130940928]]],
    [1, "2026-12-02T14:26:01.074Z", 9.894, undefined, [["incremental", 7602176, 7215246, 0, 82051072]]],
    [2, "2026-12-02T14:26:16.627Z", 6.215, undefined, [["incremental", 4063232, 4066661, 0, 51249152]]],
    [3, "2026-12-02T14:26:29.593Z", 9.806, "lab-rehearsal-1", [["incremental", 3211264, 2951933, 0, 40960000]]],
    [4, "2026-12-02T14:27:10.311Z", 9.423, undefined, [["incremental", 9043968, 8854486, 0, 89784320]]],
    [5, "2026-12-02T14:27:29.403Z", 15.98, undefined, [["resync", 62914560, 62916253, 4096, 197132288]]],
  ]),
  cutover: {
    requestedAt: "2026-12-02T14:27:52.455Z",
    finalRound: rounds([[6, "2026-12-02T14:27:52.942Z", 8.274, undefined, [["incremental", 1048576, 918469, 0, 15728640]]]])[0],
    downtimeSeconds: 8.34,
    phases: { shutdownSeconds: 0.06, finalRoundSeconds: 6.336, verifySeconds: 1.874, snapshotRemovalSeconds: 0.07 },
    finalDeltaBytes: 1048576,
    verifiedBytes: 28311552,
  },
};
