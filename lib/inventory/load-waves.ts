/**
 * Loading the waves file (see `waves.ts` for its schema): the schema's checks plus those within the
 * file: unique wave names, `after` naming existing waves without cycles, change windows that are
 * timestamps with an offset and end after they start, well-formed CIDRs in the settings. Whether
 * members name VMs of the inventory is the planner's check.
 */
import { InputError, problem, type Problem } from "../problems";
import { readDocument } from "./files";
import { checkCidrSyntax } from "../net";
import { compilePattern } from "./patterns";
import { unknownKeys } from "./unknown-keys";
import { waveOrderProblems } from "./wave-order";
import { WavesFileSchema, type WavesFile } from "./waves";
import { problemsFromZod, type VmLocation } from "../problems/zod";

/** Loads and checks a waves file (YAML or JSON); throws `InputError` listing every problem. */
export async function loadWaves(path: string): Promise<WavesFile> {
  return parseWaves(await readDocument(path), path);
}

/** Checks an already parsed waves document. */
export function parseWaves(document: unknown, file?: string): WavesFile {
  const at = file !== undefined ? { file } : {};
  const parsed = WavesFileSchema.safeParse(document ?? {}, { reportInput: true });
  const unknown = unknownKeys(WavesFileSchema, document, { ...at, vmNameAt: overrideLocator });
  if (!parsed.success) throw new InputError([...problemsFromZod(parsed.error, { ...at, input: document, vmNameAt: overrideLocator }), ...unknown]);
  const waves = parsed.data;
  const problems: Problem[] = [...unknown];
  const names = new Map<string, number>();
  waves.waves.forEach((wave, i) => {
    if (names.has(wave.name)) {
      problems.push(
        problem({
          ...at,
          field: `waves[${i}].name`,
          received: wave.name,
          expected: "a wave name used once",
          fix: `rename one of the waves named ${wave.name}`,
          message: `Wave ${wave.name} is defined twice`,
        }),
      );
    } else names.set(wave.name, i);
  });
  problems.push(...waveOrderProblems(waves, file));
  problems.push(...selectorProblems(waves, at));
  waves.waves.forEach((wave, i) => {
    if (wave.window) problems.push(...windowProblems(wave.window, `waves[${i}].window`, wave.name, at));
  });
  const settings = waves.settings;
  settings.onPremRanges.forEach((range, i) => problems.push(...cidrProblems(range, `settings.onPremRanges[${i}]`, at)));
  problems.push(...cidrProblems(settings.sync.pool, "settings.sync.pool", at));
  for (const [wave, cidr] of Object.entries(settings.sync.subnets)) {
    problems.push(...cidrProblems(cidr, `settings.sync.subnets.${wave}`, at));
    if (!names.has(wave)) {
      problems.push(
        problem({
          ...at,
          field: `settings.sync.subnets.${wave}`,
          received: wave,
          expected: `a wave name: ${[...names.keys()].join(", ")}`,
          fix: "key the sync subnet by an existing wave's name",
          message: `A sync subnet is given for wave ${wave}, which does not exist`,
        }),
      );
    }
  }
  if (problems.length > 0) throw new InputError(problems);
  return waves;
}

/** Issues inside `waves[i].overrides.<vm>` concern that VM. */
function overrideLocator(path: readonly PropertyKey[]): VmLocation | undefined {
  if (path[0] === "waves" && typeof path[1] === "number" && path[2] === "overrides" && typeof path[3] === "string") {
    return { vm: path[3], field: path };
  }
  return undefined;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function windowProblems(window: { start: string; end: string }, field: string, wave: string, at: { file?: string }): Problem[] {
  const problems: Problem[] = [];
  for (const side of ["start", "end"] as const) {
    const value = window[side];
    if (!TIMESTAMP.test(value) || Number.isNaN(Date.parse(value))) {
      problems.push(
        problem({
          ...at,
          field: `${field}.${side}`,
          received: JSON.stringify(value),
          expected: "an ISO 8601 timestamp with offset like 2026-03-07T22:00:00+08:00",
          fix: "write the time with its date and UTC offset",
          message: `The change window of wave ${wave} has a malformed ${side}`,
        }),
      );
    }
  }
  if (problems.length === 0 && Date.parse(window.end) <= Date.parse(window.start)) {
    problems.push(
      problem({
        ...at,
        field: `${field}.end`,
        received: window.end,
        expected: `a time after ${window.start}`,
        fix: "swap start and end, or correct the dates",
        message: `The change window of wave ${wave} ends before it starts`,
      }),
    );
  }
  return problems;
}

function cidrProblems(text: string, field: string, at: { file?: string }): Problem[] {
  return checkCidrSyntax(text, { ...at, field }, "range").problems;
}

/** The member lists that take patterns. */
const PATTERN_SELECTORS = ["names", "clusters", "hosts", "datastores", "resourcePools", "annotations"] as const;

/** Patterns that do not compile, and more than one wave taking `rest`. */
function selectorProblems(waves: WavesFile, at: { file?: string }): Problem[] {
  const problems: Problem[] = [];
  const rest: number[] = [];
  waves.waves.forEach((wave, w) => {
    const check = (pattern: string, field: string) => {
      const compiled = compilePattern(pattern);
      if (compiled.error !== undefined) {
        problems.push(
          problem({
            ...at,
            field,
            received: JSON.stringify(pattern),
            expected: "a glob such as szx-web-* or a regular expression between slashes such as /^szx-(web|app)-\\d+$/",
            fix: `correct the pattern (${compiled.error})`,
            message: `A member pattern of wave ${wave.name} does not compile`,
          }),
        );
      }
    };
    for (const list of PATTERN_SELECTORS) wave.members[list].forEach((pattern, i) => check(pattern, `waves[${w}].members.${list}[${i}]`));
    for (const [name, pattern] of Object.entries(wave.members.attributes)) check(pattern, `waves[${w}].members.attributes.${name}`);
    if (wave.members.rest) rest.push(w);
  });
  for (const w of rest.slice(1)) {
    problems.push(
      problem({
        ...at,
        field: `waves[${w}].members.rest`,
        received: "true",
        expected: `rest: true on one wave only (waves[${rest[0]}] has it)`,
        fix: "keep rest: true on the wave that takes the VMs no other wave selects",
        message: `Waves ${waves.waves[rest[0]!]!.name} and ${waves.waves[w]!.name} both take the rest of the inventory`,
      }),
    );
  }
  return problems;
}
