import { describe, expect, it } from "vitest";
import { InputError, formatProblem, problem, throwIfErrors } from "../../lib/problems";

describe("problems", () => {
  it("formats where, what, received, expected and the fix on one line", () => {
    const line = formatProblem(
      problem({
        file: "inventory.yaml",
        vm: "web-01",
        field: "nics[0].ipv4[0]",
        message: "The address is reserved by Alibaba Cloud in its vSwitch",
        received: "10.1.1.255",
        expected: "an address from 10.1.1.1 to 10.1.1.252",
        fix: "re-address the VM before migration or set keepIp: false",
      }),
    );
    expect(line).toBe(
      "error: inventory.yaml, VM web-01, field nics[0].ipv4[0]: The address is reserved by Alibaba Cloud in its vSwitch " +
        "(received 10.1.1.255; expected an address from 10.1.1.1 to 10.1.1.252). Fix: re-address the VM before migration or set keepIp: false",
    );
  });

  it("throws only when an error is present and returns the warnings", () => {
    const warning = { severity: "warning" as const, message: "VM db-01 is powered off" };
    expect(throwIfErrors([warning])).toEqual([warning]);
    expect(() => throwIfErrors([warning, problem({ message: "bad" })])).toThrow(InputError);
  });
});
