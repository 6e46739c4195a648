/**
 * Startup benchmark: `rehost --version` as a whole process (the installed command runs the
 * compiled CLI) against `node -e 0` measured in the same run, interleaved, 15 runs each; target
 * ≤ 0.15 s more than bare Node. Also `rehost plan --help`, which loads a command's options only.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const BIN = path.join(ROOT, "bin", "rehost.js");
const RUNS = 15;

function seconds(args: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const contenders: Record<string, string[]> = {
  "node -e 0": ["-e", "0"],
  "rehost --version": [BIN, "--version"],
  "rehost plan --help": [BIN, "plan", "--help"],
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
for (const args of Object.values(contenders)) seconds(args); // warm the page cache
for (let run = 0; run < RUNS; run++) for (const [name, args] of Object.entries(contenders)) times[name].push(seconds(args));

const base = median(times["node -e 0"]);
console.log(`${"command".padEnd(22)} ${"median s".padStart(9)} ${"best s".padStart(8)} ${"over node s".padStart(12)}`);
for (const [name, xs] of Object.entries(times)) {
  console.log(
    `${name.padEnd(22)} ${median(xs).toFixed(3).padStart(9)} ${Math.min(...xs)
      .toFixed(3)
      .padStart(8)} ${(median(xs) - base).toFixed(3).padStart(12)}`,
  );
}
const over = median(times["rehost --version"]) - base;
console.log(
  JSON.stringify({
    bench: "startup",
    runs: RUNS,
    nodeSeconds: base,
    versionSeconds: median(times["rehost --version"]),
    overNodeSeconds: over,
    target: 0.15,
    met: over <= 0.15,
  }),
);
