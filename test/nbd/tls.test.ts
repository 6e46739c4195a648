import * as crypto from "node:crypto";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../lib/problems";
import { NbdError, connectNbd } from "../../lib/replication/nbd";
import { NbdServer, X509Dirs, makePskFile, makeX509, startNbdkit, withQuery } from "../helpers/nbd-servers";
import { serverScope } from "../helpers/scopes";

const MiB = 1024 * 1024;

async function roundTrip(uri: string): Promise<void> {
  const client = await connectNbd(uri);
  const data = crypto.randomBytes(MiB);
  await client.write(MiB, data);
  const reads = [client.read(MiB, MiB / 2), client.read(MiB + MiB / 2, MiB / 2)];
  expect(Buffer.concat(await Promise.all(reads)).equals(data)).toBe(true);
  await client.flush();
  await client.close();
}

describe("NBD over TLS-PSK (nbdkit --tls=require --tls-psk)", () => {
  const scope = serverScope();
  let keys: string;
  let otherKeys: string;
  let tcp: NbdServer;
  let unix: NbdServer;

  beforeAll(async () => {
    const { dir } = scope;
    keys = await makePskFile(dir, "alice");
    otherKeys = await makePskFile(dir, "alice", "other.psk");
    tcp = scope.lasting(await startNbdkit({ dir, tcp: true, tlsPsk: keys, plugin: ["memory", "4M"] }));
    unix = scope.lasting(await startNbdkit({ dir, tlsPsk: keys, plugin: ["memory", "4M"] }));
  });

  it("reads and writes over TCP with the right key", async () => {
    await roundTrip(withQuery(tcp.uri.replace("nbds://", "nbds://alice@"), { "tls-psk-file": keys }));
  });

  it("reads and writes over a unix socket with the right key", async () => {
    await roundTrip(withQuery(unix.uri.replace("nbds+unix://", "nbds+unix://alice@"), { "tls-psk-file": keys }));
  });

  it("fails with ETLS naming the user and key file when the key is wrong", async () => {
    const uri = withQuery(tcp.uri.replace("nbds://", "nbds://alice@"), { "tls-psk-file": otherKeys });
    const error = await connectNbd(uri).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NbdError);
    expect(error).toMatchObject({ code: "ETLS", command: "STARTTLS", server: uri });
    expect((error as Error).message).toContain("alice");
    expect((error as Error).message).toContain("other.psk");
  });

  it("fails with ETLSREQUIRED when the URI does not ask for TLS", async () => {
    const uri = tcp.uri.replace("nbds://", "nbd://");
    const error = await connectNbd(uri).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ETLSREQUIRED" });
    expect((error as Error).message).toContain("nbds://");
  });

  it("refuses a keys file without the user's key as bad input, before connecting", async () => {
    const uri = withQuery(tcp.uri.replace("nbds://", "nbds://bob@"), { "tls-psk-file": keys });
    const error = await connectNbd(uri).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).problems[0]).toMatchObject({ field: "tls-psk-file", received: keys });
    const missing = withQuery(tcp.uri, { "tls-psk-file": path.join(scope.dir, "absent.psk") });
    await expect(connectNbd(missing)).rejects.toBeInstanceOf(InputError);
  });
});

describe("NBD over TLS with X.509 certificates (certtool CA)", () => {
  const scope = serverScope();
  let x509: X509Dirs;
  let server: NbdServer;
  let verifying: NbdServer;

  beforeAll(async () => {
    const { dir } = scope;
    x509 = await makeX509(dir);
    server = scope.lasting(await startNbdkit({ dir, tcp: true, tlsCertificates: x509.serverDir, plugin: ["memory", "4M"] }));
    verifying = scope.lasting(await startNbdkit({ dir, tcp: true, tlsCertificates: x509.serverDir, tlsVerifyPeer: true, plugin: ["memory", "4M"] }));
  });

  it("checks the server certificate against the CA of tls-certificates=", async () => {
    await roundTrip(withQuery(server.uri, { "tls-certificates": x509.caOnlyDir }));
    // localhost is in the certificate too.
    await roundTrip(withQuery(server.uri.replace("127.0.0.1", "localhost"), { "tls-certificates": x509.caOnlyDir }));
  });

  it("checks the certificate against localhost over a unix socket", async () => {
    const unix = scope.lasting(await startNbdkit({ dir: scope.dir, tlsCertificates: x509.serverDir, plugin: ["memory", "4M"] }));
    await roundTrip(withQuery(unix.uri, { "tls-certificates": x509.caOnlyDir }));
  });

  it("refuses a server certificate signed by another CA, unless tls-verify-peer=false", async () => {
    const uri = withQuery(server.uri, { "tls-certificates": x509.otherCaDir });
    await expect(connectNbd(uri)).rejects.toMatchObject({ code: "ETLS", command: "STARTTLS" });
    await roundTrip(withQuery(server.uri, { "tls-certificates": x509.otherCaDir, "tls-verify-peer": "false" }));
  });

  it("presents the client certificate to a server that verifies its peers", async () => {
    await roundTrip(withQuery(verifying.uri, { "tls-certificates": x509.clientDir }));
    await expect(connectNbd(withQuery(verifying.uri, { "tls-certificates": x509.caOnlyDir }))).rejects.toMatchObject({ code: "ETLS" });
  });
});
