import { describe, expect, it } from "vitest";
import { AgentRequestError } from "../../lib/agent/client";
import { isTransient, poll, retrying } from "../../lib/providers/waiting";

describe("provider waits", () => {
  it("retry an unreachable or failing agent until it answers", async () => {
    let calls = 0;
    const value = await retrying("the agent", { timeoutSeconds: 10, pollSeconds: 0.01 }, async () => {
      calls++;
      if (calls === 1) throw new AgentRequestError(0, "Cannot reach agent https://10.0.0.1:8443: ECONNREFUSED");
      if (calls === 2) throw new AgentRequestError(503, "Agent answered 503");
      return "answered";
    });
    expect(value).toBe("answered");
    expect(calls).toBe(3);
  });

  it("fail at once on a request the agent refuses, and say what was seen last on a timeout", async () => {
    expect(isTransient(new AgentRequestError(409, "busy"))).toBe(false);
    expect(isTransient(new Error("plain"))).toBe(false);
    await expect(
      retrying("x", { timeoutSeconds: 10, pollSeconds: 0.01 }, async () => Promise.reject(new AgentRequestError(403, "not allowed"))),
    ).rejects.toThrow(/not allowed/);
    await expect(
      poll("round 3 of job a", { timeoutSeconds: 0.2, pollSeconds: 0.05 }, async () => ({ waiting: "job a is syncing 40% of round 3" })),
    ).rejects.toThrow(/Timed out after 0.2 s waiting for round 3 of job a; last seen: job a is syncing 40% of round 3/);
  });
});
