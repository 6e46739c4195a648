import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { runUnderMocks, SECRET, type RecordedResource } from "../../lib/preview/mocks";
import { InputError } from "../../lib/problems";
import { cidrContains } from "../../lib/net";
import { SourceProxy } from "../../lib/components/source-proxy";
import type { SourceProxyArgs } from "../../lib/components/source-proxy-args";
import { sourceProxyHostFiles } from "../../lib/components/source-proxy-host";

const COMMAND = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";
const PASSWORD = "vcenter-password-only-the-test-knows";
const AGENT_TOKEN = "agent-token-only-the-test-knows";
const API_TOKEN = "api-token-only-the-test-knows";
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nkey-only-the-test-knows\n-----END OPENSSH PRIVATE KEY-----\n";

const base: SourceProxyArgs = {
  connection: { host: "10.30.9.10", user: "root", privateKey: pulumi.secret(KEY) },
  bundle: { file: "/srv/rehost/bundles/rehost-agent-0.1.0.tgz", sha256: "5e".repeat(32), version: "0.1.0" },
  listen: { host: "10.30.9.10" },
  gatewayCidrs: ["172.30.0.0/27"],
  operatorCidrs: ["192.168.10.0/24"],
  vcenter: {
    url: "https://vcenter.corp.example",
    user: "rehost@vsphere.local",
    password: pulumi.secret(PASSWORD),
    thumbprint: "5F:E6:".repeat(10).slice(0, 95).replace(/:$/, ""),
  },
  agents: { token: pulumi.secret(AGENT_TOKEN), fingerprints: ["AB:CD:EF"] },
  apiToken: pulumi.secret(API_TOKEN),
};

const run = <T>(fn: () => T) => runUnderMocks({ project: "rehost", stack: "onprem" }, fn);

function declare(args: SourceProxyArgs = base) {
  const proxy = new SourceProxy("p", args);
  return { url: proxy.url, fingerprint: proxy.fingerprint };
}

/** The scripts a command runs: the text after `bash -c`, unquoted by a shell. */
function createText(r: RecordedResource): string {
  return String(r.inputs.create);
}

describe("SourceProxy under mocks", () => {
  let graph: RecordedResource[];
  let outputs: { url: string; fingerprint: string };
  beforeAll(async () => {
    const done = await run(declare);
    graph = done.resources;
    outputs = done.result as unknown as { url: string; fingerprint: string };
  });
  const named = (name: string) => graph.find((r) => r.name === name)!;

  it("declares its steps as children, in order", () => {
    // Registration order is the SDK's; the order that matters is the dependencies below.
    expect(graph.map((r) => [r.type, r.name, r.parent]).sort((a, b) => String(a[1]).localeCompare(String(b[1])))).toEqual([
      ["rehost:components:SourceProxy", "p", null],
      [COPY, "p-bundle", "p"],
      [COMMAND, "p-config", "p"],
      [COMMAND, "p-health", "p"],
      [COMMAND, "p-install", "p"],
      [COMMAND, "p-prepare", "p"],
      [COMMAND, "p-service", "p"],
    ]);
    expect(named("p-bundle").dependencies).toEqual(["p-prepare"]);
    expect(named("p-install").dependencies).toEqual(["p-bundle"]);
    expect(named("p-config").dependencies).toEqual(["p-prepare"]);
    expect([...named("p-service").dependencies].sort()).toEqual(["p-config", "p-install"]);
    expect(named("p-health").dependencies).toContain("p-service");
  });

  it("copies the packed build and installs it only with the stack's SHA-256", () => {
    expect(named("p-bundle").inputs.remotePath).toBe(`/opt/rehost/bundles/${"5e".repeat(32)}.tgz`);
    const install = createText(named("p-install"));
    expect(install).toContain(`sha256sum /opt/rehost/bundles/${"5e".repeat(32)}.tgz`);
    expect(install).toContain(`[ "$actual" != ${"5e".repeat(32)} ]`);
    expect(install).toContain(`/opt/rehost/releases/${"5e".repeat(32)}`);
  });

  it("keeps every secret out of the graph's text and sends it on stdin", () => {
    const text = JSON.stringify(graph);
    for (const secret of [PASSWORD, AGENT_TOKEN, API_TOKEN, "key-only-the-test-knows"]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(Buffer.from(secret).toString("base64"));
    }
    const config = named("p-config");
    expect(config.inputs.stdin).toBe(SECRET);
    expect(config.inputs.logging).toBe("none");
    for (const r of graph.filter((g) => g.custom)) expect(r.inputs.connection).toBe(SECRET);
  });

  it("runs rehost proxy from a systemd unit with the flags of docs/proxy.md", () => {
    const service = createText(named("p-service"));
    expect(service).toContain("ExecStartPre=/usr/sbin/nft -f /etc/rehost/proxy/firewall.nft");
    expect(service).toContain("ExecStart=/etc/rehost/proxy/start");
    expect(service).toContain(`/opt/rehost/releases/${"5e".repeat(32)}/package/bin/rehost.js proxy`);
    for (const flag of [
      "--state /var/lib/rehost-proxy",
      "--listen 10.30.9.10:8444",
      "--vcenter https://vcenter.corp.example",
      "--user rehost@vsphere.local",
      "--agent-token-file /etc/rehost/proxy/agent.token",
      "--agent-fingerprint AB:CD:EF",
      "--token-file /etc/rehost/proxy/api.token",
      "--reader curl",
    ]) {
      expect(service).toContain(flag);
    }
    expect(service).toContain("systemctl enable rehost-proxy.service");
    expect(String(named("p-service").inputs.delete)).toContain("systemctl disable --now rehost-proxy.service");
    expect(createText(named("p-health"))).toContain("https://10.30.9.10:8444/v1/health");
  });

  it("names no address outside the host, loopback and its clients", () => {
    const clients = [...base.gatewayCidrs, ...base.operatorCidrs!];
    const texts = graph.filter((r) => r.type === COMMAND).flatMap((r) => [String(r.inputs.create), String(r.inputs.delete ?? "")]);
    const ips = texts.flatMap((t) => t.match(/\b\d{1,3}(\.\d{1,3}){3}\b/g) ?? []);
    expect(ips.length).toBeGreaterThan(0);
    for (const ip of ips) expect(ip === "10.30.9.10" || clients.some((c) => cidrContains(c, ip)), ip).toBe(true);
    const urls = texts.flatMap((t) => t.match(/https?:\/\/[^\s'"\\]+/g) ?? []);
    expect(new Set(urls.map((u) => new URL(u).host))).toEqual(new Set(["vcenter.corp.example", "10.30.9.10:8444"]));
  });

  it("outputs the API's URL and the fingerprint the health step printed", () => {
    expect(outputs).toEqual({ url: "https://10.30.9.10:8444", fingerprint: "preview:p-health" });
  });

  it("every script it runs on the host is valid bash", () => {
    for (const r of graph.filter((g) => g.type === COMMAND)) {
      for (const text of [r.inputs.create, r.inputs.delete].filter((t): t is string => typeof t === "string")) {
        expect(text.startsWith("bash -c ")).toBe(true);
        const check = spawnSync("sh", ["-c", text.replace(/^bash -c /, "bash -n -c ")], { encoding: "utf8" });
        expect(check.stderr, r.name).toBe("");
        expect(check.status, r.name).toBe(0);
      }
    }
  });

  it("with sudo, every step runs through sudo -n", async () => {
    const { resources } = await run(() => declare({ ...base, sudo: true, connection: { host: "10.30.9.10", user: "ops", privateKey: pulumi.secret(KEY) } }));
    for (const r of resources.filter((g) => g.type === COMMAND)) expect(createText(r).startsWith("sudo -n bash -c "), r.name).toBe(true);
  });
});

describe("the host's files", () => {
  it("admits the API port from the gateways, the operator and loopback only", () => {
    const { firewall } = sourceProxyHostFiles(base, ["AB:CD"]);
    expect(firewall).toContain("tcp dport 8444 ip saddr { 172.30.0.0/27, 192.168.10.0/24 } accept");
    expect(firewall).toContain('tcp dport 8444 iifname "lo" accept');
    expect(
      firewall
        .trim()
        .split("\n")
        .filter((l) => l.includes("accept") || l.includes("drop"))
        .pop(),
    ).toBe("    tcp dport 8444 drop");
  });

  it("reads the password from its file into the environment, never into a flag", () => {
    const { start } = sourceProxyHostFiles(
      { ...base, vcenter: { ...base.vcenter, thumbprint: undefined, ca: "PEM" }, agents: { ...base.agents, fingerprints: undefined, ca: "PEM" } },
      [],
    );
    expect(start).toContain('REHOST_VCENTER_PASSWORD="$(cat /etc/rehost/proxy/vcenter.password)"');
    expect(start).toContain("--ca /etc/rehost/proxy/vcenter-ca.pem");
    expect(start).toContain("--agent-ca /etc/rehost/proxy/agent-ca.pem");
    expect(start).not.toContain("--agent-fingerprint");
    expect(start).not.toContain("--thumbprint");
  });
});

describe("bad input", () => {
  it("names every field wrong before anything is declared", async () => {
    const bad: SourceProxyArgs = {
      ...base,
      listen: { host: "0.0.0.0" },
      gatewayCidrs: ["0.0.0.0/0", "172.30.0.0/33"],
      vcenter: { ...base.vcenter, insecure: true },
    };
    const error = await run(() => declare(bad)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    const fields = (error as InputError).problems.map((p) => p.field);
    expect(fields).toEqual(["listen.host", "gatewayCidrs[0]", "gatewayCidrs[1]", "vcenter.thumbprint"]);
    expect((error as InputError).message).toContain("Source proxy p: 0.0.0.0/0 would admit every host.");
  });
});
