/**
 * Bearer-token authentication. The token is compared in constant time: both sides are hashed to
 * 32 bytes first so `timingSafeEqual` never sees different lengths.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { writeFileAtomic } from "./files";

/** Reads the token from `file`, or creates a random one there (mode 0600) when it does not exist. */
export function loadOrCreateToken(file: string): { token: string; created: boolean } {
  if (fs.existsSync(file)) {
    const token = fs.readFileSync(file, "utf8").trim();
    if (token.length < 16) throw new Error(`The token in ${file} is shorter than 16 characters; write a longer random token there.`);
    return { token, created: false };
  }
  // 32 random bytes as hex: no leading "-" a command line would read as a flag (`pulumi config set`).
  const token = crypto.randomBytes(32).toString("hex");
  writeFileAtomic(file, `${token}\n`, 0o600);
  return { token, created: true };
}

/** Whether an `Authorization` header carries `Bearer <token>` (the scheme in any case), the token compared in constant time. */
export function authorized(header: string | undefined, token: string): boolean {
  const match = typeof header === "string" ? /^bearer +(\S+) *$/i.exec(header) : null;
  const presented = match?.[1] ?? "";
  const a = crypto.createHash("sha256").update(presented).digest();
  const b = crypto.createHash("sha256").update(token).digest();
  return crypto.timingSafeEqual(a, b) && presented.length > 0;
}
