import * as os from "node:os";
import { describe, expect, it } from "vitest";
import { InputError } from "../../lib/problems";
import { parseNbdUri } from "../../lib/replication/nbd";

describe("parseNbdUri", () => {
  it.each([
    ["nbd://example.com/disk", { transport: "tcp", tls: false, host: "example.com", port: 10809, exportName: "disk" }],
    ["nbd://127.0.0.1:1234/", { transport: "tcp", host: "127.0.0.1", port: 1234, exportName: "" }],
    ["nbd://example.com", { transport: "tcp", port: 10809, exportName: "" }],
    ["nbd://[::1]:99/a%20b/c", { host: "::1", port: 99, exportName: "a b/c" }],
    ["nbds://alice@127.0.0.1:1234/?tls-psk-file=/k.psk", { tls: true, user: "alice", tlsPskFile: "/k.psk", exportName: "" }],
    ["nbd+unix:///exp?socket=/tmp/s.sock", { transport: "unix", tls: false, socket: "/tmp/s.sock", exportName: "exp", host: undefined }],
    ["nbd+unix://?socket=/tmp/s.sock", { transport: "unix", exportName: "" }],
    ["nbds+unix://bob@/exp?socket=/s&tls-psk-file=k", { transport: "unix", tls: true, user: "bob", socket: "/s", tlsPskFile: "k" }],
    ["nbds://h/?tls-certificates=/etc/pki/nbd&tls-verify-peer=false", { tlsCertificates: "/etc/pki/nbd", tlsVerifyPeer: false, user: undefined }],
    ["nbds://h/", { tls: true, tlsVerifyPeer: true, tlsCertificates: undefined }],
  ])("parses %s", (uri, expected) => {
    expect(parseNbdUri(uri)).toMatchObject({ uri, ...expected });
  });

  it("uses the local login name as the TLS-PSK identity when the URI names no user, as libnbd does", () => {
    expect(parseNbdUri("nbds://h/?tls-psk-file=k").user).toBe(os.userInfo().username);
  });

  it.each([
    ["disk.img", "uri"],
    ["http://h/disk", "scheme"],
    ["nbd+vsock:///disk", "scheme"],
    ["nbd:///disk", "host"],
    ["nbd://h:0/", "port"],
    ["nbd://h:70000/", "port"],
    ["nbd://h:http/", "port"],
    ["nbd://h/?socket=/s", "socket"],
    ["nbd+unix:///disk", "socket"],
    ["nbd+unix://host/disk?socket=/s", "host"],
    ["nbd://h/?tls-psk-file=k", "tls-psk-file"],
    ["nbds://h/?tls-psk=k", "tls-psk"],
    ["nbds://h/?tls-verify-peer=maybe", "tls-verify-peer"],
    ["nbds://h/?tls-psk-file=k&tls-certificates=d", "tls-psk-file"],
    ["nbd://h/%zz", "export"],
  ])("refuses %s, naming the part %s", (uri, field) => {
    let error: unknown;
    try {
      parseNbdUri(uri);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InputError);
    const problems = (error as InputError).problems;
    expect(problems.map((p) => p.field)).toContain(field);
    for (const p of problems) {
      expect(p.message).toContain(uri);
      expect(p.fix).toBeTruthy();
      expect(p.expected).toBeTruthy();
    }
  });

  it("reports every mistake of one URI at once", () => {
    let error: InputError | undefined;
    try {
      parseNbdUri("nbd+unix://host/disk?tls-psk-file=k&bogus=1");
    } catch (err) {
      error = err as InputError;
    }
    expect(error?.problems.map((p) => p.field).sort()).toEqual(["bogus", "host", "socket", "tls-psk-file"]);
  });
});
