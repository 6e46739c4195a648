/**
 * The syntax check of a CIDR written by a person, as a `Problem` naming where it was written: the
 * one the planner, the inventory loaders and the policies share.
 */
import type { Problem } from "../problems";
import { type Cidr, parseCidr, parseCidrLoose } from "./cidr";

/** Where a value came from, copied into every problem about it. */
export interface Where {
  readonly file?: string;
  readonly vm?: string;
  /** Dotted path of the field (`nics[0].ipv4[1]`, `settings.sync.subnets.wave-1`). */
  readonly field?: string;
}

/**
 * Checks that `cidr` is a canonical IPv4 block (`10.1.1.0/24`). Returns the parsed block, or the
 * problem to report. `what` names the value in the message (`the subnet of portgroup web`);
 * without it the message speaks of "the subnet address" / "the value".
 */
export function checkCidrSyntax(cidr: string, where: Where, what?: string): { block?: Cidr; problems: Problem[] } {
  const block = parseCidr(cidr);
  if (block) return { block, problems: [] };
  const loose = parseCidrLoose(cidr);
  const subject = (fallback: string) => (what !== undefined ? `The ${what}` : fallback);
  return {
    problems: [
      {
        severity: "error",
        ...(where.file !== undefined ? { file: where.file } : {}),
        ...(where.vm !== undefined ? { vm: where.vm } : {}),
        ...(where.field !== undefined ? { field: where.field } : {}),
        message: loose ? `${subject("The subnet address")} has host bits set` : `${subject("The value")} is not an IPv4 CIDR block`,
        received: JSON.stringify(cidr),
        expected: loose ? loose.text : "a canonical IPv4 CIDR such as 10.1.1.0/24",
        fix: loose ? `write the network address: ${loose.text}` : "write it as address/prefix-length, such as 10.1.1.0/24",
      },
    ],
  };
}
