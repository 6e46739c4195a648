import * as os from "node:os";
import fc from "fast-check";
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

  it("reads back the host, port, export, socket and user it is given, whatever their characters", () => {
    const text = fc.string({ minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(
        fc.constantFrom("nbd", "nbds", "nbd+unix", "nbds+unix"),
        fc.oneof(fc.domain(), fc.ipV4()),
        fc.integer({ min: 1, max: 65535 }),
        fc.string({ maxLength: 30 }),
        text,
        text,
        (scheme, host, port, exportName, socket, user) => {
          const unix = scheme.endsWith("+unix");
          const tls = scheme.startsWith("nbds");
          const authority = `${tls ? `${encodeURIComponent(user)}@` : ""}${unix ? "" : `${host}:${port}`}`;
          const query = [unix ? `socket=${encodeURIComponent(socket)}` : "", tls ? "tls-psk-file=k.psk" : ""].filter(Boolean).join("&");
          const uri = `${scheme}://${authority}/${encodeURIComponent(exportName)}${query ? `?${query}` : ""}`;
          const parsed = parseNbdUri(uri);
          expect(parsed.exportName).toBe(exportName);
          expect(parsed.tls).toBe(tls);
          if (unix) expect(parsed.socket).toBe(socket);
          else expect([parsed.host, parsed.port]).toEqual([host, port]);
          if (tls) expect(parsed.user).toBe(user);
        },
      ),
    );
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
