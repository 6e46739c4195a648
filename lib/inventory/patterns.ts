/**
 * Name patterns of the waves file: a glob (`szx-web-*`, `db-0?`, `app-[0-9]*`), matched against
 * the whole value without regard to case, or a regular expression written between slashes
 * (`/^szx-(web|app)-\d+$/`, flags after the closing slash: `/web/i`). A value without wildcards
 * matches itself (case-insensitively).
 */

/** A compiled pattern, or the reason it does not compile. */
export type CompiledPattern = { readonly test: (value: string) => boolean; readonly error?: undefined } | { readonly test?: undefined; readonly error: string };

/** Compiles `pattern` (glob or `/regex/flags`). */
export function compilePattern(pattern: string): CompiledPattern {
  const regex = /^\/(.+)\/([a-z]*)$/s.exec(pattern);
  if (regex) {
    try {
      const re = new RegExp(regex[1]!, regex[2]!.replace(/[gy]/g, ""));
      return { test: (value) => re.test(value) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) return { error: `the character class opened at position ${i + 1} is not closed with ]` };
      const body = pattern.slice(i + 1, end);
      source += `[${body.startsWith("!") ? `^${body.slice(1)}` : body.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  const re = new RegExp(`^${source}$`, "is");
  return { test: (value) => re.test(value) };
}
