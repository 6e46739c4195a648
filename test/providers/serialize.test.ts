import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";

interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

describe("providers under Pulumi mocks", () => {
  it("construct each resource with its type token and serialize every provider", async () => {
    const recorded: Recorded[] = [];
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "rehost",
      "wave-1",
      false,
    );
    const providers = await import("../../lib/providers/index.js");
    const url = "https://172.30.0.5:8443";
    const replication = new providers.Replication("web-01-disk-2000", {
      agentUrl: url,
      jobId: "web-01-disk-2000",
      source: "nbds://proxy@10.0.0.9:10809/web-01",
      credentials: "site.psk",
      target: "/dev/vdb",
      round: 2,
    });
    const point = new providers.RehearsalPoint(
      "wave-1-point",
      { agentUrl: url, jobIds: ["web-01-disk-2000"], point: "wave-1-rehearsal-1" },
      { dependsOn: [replication] },
    );
    const thaw = new providers.RehearsalThaw(
      "wave-1-thaw",
      { agentUrl: url, jobIds: ["web-01-disk-2000"], point: "wave-1-rehearsal-1", snapshots: ["s-1"] },
      { dependsOn: [point] },
    );
    const cutover = new providers.Cutover("web-01-cutover", { agentUrl: url, vm: "web-01", jobIds: ["web-01-disk-2000"], round: 3, manualConfirmation: true });
    const ids = await Promise.all([replication, point, thaw, cutover].map((r) => new Promise<string>((resolve) => r.id.apply(resolve))));
    expect(ids).toEqual(["web-01-disk-2000-id", "wave-1-point-id", "wave-1-thaw-id", "web-01-cutover-id"]);
    expect(recorded.map((r) => r.type).sort()).toEqual([
      "pulumi-nodejs:dynamic/rehost:Cutover",
      "pulumi-nodejs:dynamic/rehost:RehearsalPoint",
      "pulumi-nodejs:dynamic/rehost:RehearsalThaw",
      "pulumi-nodejs:dynamic/rehost:Replication",
    ]);
    for (const r of recorded) {
      const serialized = r.inputs.__provider as string;
      expect(typeof serialized).toBe("string");
      expect(serialized).toContain("exports.handler");
      // The code is reached by package name, never by a path of this checkout.
      expect(serialized).toContain('require("rehost/providers/runtime")');
      expect(serialized).not.toContain(process.cwd());
      expect(serialized).not.toMatch(/tsx|\.ts["']/);
    }
    // The same text whatever the resource: one serialized provider per kind.
    const byType = new Map<string, Set<string>>();
    for (const r of recorded) byType.set(r.type, (byType.get(r.type) ?? new Set()).add(r.inputs.__provider as string));
    for (const texts of byType.values()) expect(texts.size).toBe(1);
    // No credential ever appears in inputs.
    expect(JSON.stringify(recorded.map((r) => ({ ...r.inputs, __provider: undefined })))).not.toMatch(/token|password|psk-file/i);

    for (const provider of [providers.replicationProvider, providers.rehearsalPointProvider, providers.rehearsalThawProvider, providers.cutoverProvider]) {
      const fn = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: false });
      expect(fn.text).toContain("exports.handler");
      expect(fn.text).toContain('require("rehost/providers/runtime")');
    }
  });
});
