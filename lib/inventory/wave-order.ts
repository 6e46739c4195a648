/**
 * The order of the waves: every `after` entry names another wave of the file, and the waits form
 * no cycle. The waves loader checks a file with it; the planner checks waves built in code too.
 */
import { problem, type Problem } from "../problems";
import type { WavesFile } from "./waves";

/** Problems of the waves' `after` lists: unknown waves, a wave after itself, and every cycle once. */
export function waveOrderProblems(waves: Pick<WavesFile, "waves">, file?: string): Problem[] {
  const problems: Problem[] = [];
  const known = new Set(waves.waves.map((w) => w.name));
  const edges = new Map<string, string[]>();
  waves.waves.forEach((wave, w) => {
    const valid: string[] = [];
    wave.after.forEach((dep, i) => {
      if (dep !== wave.name && known.has(dep)) {
        valid.push(dep);
        return;
      }
      problems.push(
        problem({
          file,
          field: `waves[${w}].after[${i}]`,
          received: dep,
          expected: `one of the other waves: ${[...known].filter((n) => n !== wave.name).join(", ") || "(none)"}`,
          fix: dep === wave.name ? "remove the wave from its own `after` list" : "name an existing wave or remove the entry",
          message: dep === wave.name ? `Wave ${wave.name} cannot wait for itself` : `Wave ${wave.name} waits for wave ${dep}, which does not exist`,
        }),
      );
    });
    // A duplicate name is its own problem; the order follows the first wave of that name.
    if (!edges.has(wave.name)) edges.set(wave.name, valid);
  });

  // Depth-first search with colours; each cycle is reported once, at the wave that closes it.
  const colour = new Map<string, "grey" | "black">();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (name: string): void => {
    colour.set(name, "grey");
    stack.push(name);
    for (const dep of edges.get(name) ?? []) {
      const c = colour.get(dep);
      if (c === undefined) {
        visit(dep);
        continue;
      }
      if (c === "black") continue;
      const cycle = [...stack.slice(stack.indexOf(dep)), dep];
      const key = [...new Set(cycle)].sort().join(",");
      if (reported.has(key)) continue;
      reported.add(key);
      problems.push(
        problem({
          file,
          field: `waves[${waves.waves.findIndex((w) => w.name === name)}].after`,
          received: cycle.join(" → "),
          expected: "an order without cycles",
          fix: "remove one of the `after` entries in the cycle",
          message: `The waves wait for each other in a cycle: ${cycle.join(" → ")}`,
        }),
      );
    }
    stack.pop();
    colour.set(name, "black");
  };
  for (const wave of waves.waves) if (!colour.has(wave.name)) visit(wave.name);
  return problems;
}
