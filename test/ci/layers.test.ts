/**
 * No import cycle between the folders of lib/ (eslint's import-x/no-cycle covers files): every
 * import, `import type` and `require` of a file under lib/ counted as an edge from its folder to
 * the folder it reaches; the files at lib/'s top (problems.ts, zod-problems.ts, package.ts,
 * index.ts) are each a node of their own.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const LIB = path.join(__dirname, "..", "..", "lib");

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

/** `inventory`, `plan`, … for a file in a folder; `lib/problems` for a file at the top. */
function nodeOf(target: string): string {
  const full = fs.existsSync(target) && fs.statSync(target).isDirectory() ? path.join(target, "index") : target;
  const parts = path.relative(LIB, full).split(path.sep);
  return parts.length > 1 ? parts[0]! : `lib/${parts[0]!.replace(/\.ts$/, "")}`;
}

/** Folder → folders it imports from. */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of filesUnder(LIB)) {
    const from = nodeOf(file.replace(/\.ts$/, ""));
    for (const m of fs.readFileSync(file, "utf8").matchAll(/(?:\bfrom|\brequire\(|\bimport\()\s*"(\.[^"]+)"/g)) {
      const target = path.resolve(path.dirname(file), m[1]!);
      if (!target.startsWith(LIB + path.sep)) continue;
      const to = nodeOf(target);
      if (to !== from) graph.set(from, (graph.get(from) ?? new Set()).add(to));
    }
  }
  return graph;
}

/** The strongly connected components with more than one node (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

describe("lib/ layering", () => {
  it("has no import cycle between folders", () => {
    const graph = folderGraph();
    expect(graph.get("plan")).toContain("inventory");
    expect(cycles(graph)).toEqual([]);
  });

  it("finds a cycle when there is one", () => {
    const graph = new Map([
      ["inventory", new Set(["plan", "lib/problems"])],
      ["plan", new Set(["inventory"])],
    ]);
    expect(cycles(graph)).toEqual([["inventory", "plan"]]);
  });
});
