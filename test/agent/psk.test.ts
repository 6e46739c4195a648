import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ProcessGroup } from "../../lib/lab/processes";
import { fileSha256, makeRawDisk, makeTarget, startTestAgent, until } from "./fixtures";
import { tempDir } from "../helpers/tmp";

describe("agent with a TLS-PSK source named by reference", () => {
  const dir = tempDir("rehost-agent-psk-");
  const group = new ProcessGroup();
  afterAll(async () => {
    await group.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reads an nbdkit --tls=require source with the PSK file from its credentials directory", async () => {
    const credentials = path.join(dir, "credentials");
    fs.mkdirSync(credentials);
    execFileSync("psktool", ["-u", "gateway", "-p", path.join(credentials, "site-a.psk")], { stdio: "pipe" });
    const image = path.join(dir, "source.raw");
    const target = path.join(dir, "target.raw");
    const socket = path.join(dir, "tls.sock");
    makeRawDisk(image, 8, 4, "psk");
    makeTarget(target, 8);
    const server = group.spawn("nbdkit", "nbdkit", [
      "-f",
      "--exit-with-parent",
      "--tls=require",
      `--tls-psk=${path.join(credentials, "site-a.psk")}`,
      "-U",
      socket,
      "file",
      image,
    ]);
    await until("nbdkit's socket", async () => {
      if (server.child.exitCode !== null) throw new Error(server.stderr());
      return fs.existsSync(socket) ? true : undefined;
    });
    const { agent, client } = await startTestAgent(dir, [target], { credentialsDir: credentials });
    try {
      const uri = `nbds+unix://gateway@/?socket=${socket}`;
      const status = await client.register({ id: "tls-disk", source: { uri, credentials: "site-a.psk" }, target });
      expect(status.source).toEqual({ uri, credentials: "site-a.psk" });
      const done = await until(
        "the initial sync over TLS-PSK",
        async () => {
          const s = await client.get("tls-disk");
          return s.state === "idle" ? s : undefined;
        },
        30_000,
        () => client.get("tls-disk"),
      );
      expect(done.lastRound?.round).toBe(0);
      expect(fileSha256(target)).toBe(fileSha256(image));
      // Nothing secret is stored in the job record.
      const record = fs.readFileSync(path.join(dir, "state", "jobs", "tls-disk.json"), "utf8");
      expect(record).not.toContain(fs.readFileSync(path.join(credentials, "site-a.psk"), "utf8").split(":")[1].trim());
      expect(record).not.toContain("tls-psk-file");
    } finally {
      await agent.close();
    }
  });
});
