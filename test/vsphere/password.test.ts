/** Where the vCenter password comes from: the environment, or a prompt on a terminal without echo. */
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InputError } from "../../lib/problems";
import { PASSWORD_ENV, resolvePassword } from "../../lib/vsphere";

/** A stream that says it is a terminal, recording raw-mode switches. */
function fakeTerminal(): PassThrough & { isTTY: boolean; isRaw: boolean; setRawMode(raw: boolean): void; modes: boolean[] } {
  const stream = new PassThrough() as PassThrough & { isTTY: boolean; isRaw: boolean; setRawMode(raw: boolean): void; modes: boolean[] };
  stream.isTTY = true;
  stream.isRaw = false;
  stream.modes = [];
  stream.setRawMode = (raw: boolean) => {
    stream.isRaw = raw;
    stream.modes.push(raw);
  };
  return stream;
}

describe("resolvePassword", () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env[PASSWORD_ENV];
    delete process.env[PASSWORD_ENV];
  });
  afterEach(() => {
    if (saved === undefined) delete process.env[PASSWORD_ENV];
    else process.env[PASSWORD_ENV] = saved;
  });

  it("takes the environment variable first", async () => {
    process.env[PASSWORD_ENV] = "from-env";
    expect(await resolvePassword("u", { input: fakeTerminal() as unknown as NodeJS.ReadStream })).toBe("from-env");
  });

  it("asks on a terminal, without echo, honouring backspace", async () => {
    const input = fakeTerminal();
    const output = new PassThrough();
    let shown = "";
    output.on("data", (d: Buffer) => (shown += d.toString()));
    const answer = resolvePassword("migrator@vsphere.local", { input: input as unknown as NodeJS.ReadStream, output: output as unknown as NodeJS.WriteStream });
    input.write("s3cretx\u007f!\r");
    expect(await answer).toBe("s3cret!");
    expect(shown).toBe("Password for migrator@vsphere.local: \n");
    expect(input.modes).toEqual([true, false]);
  });

  it("refuses without a terminal, naming the variable", async () => {
    const input = new PassThrough() as unknown as NodeJS.ReadStream;
    await expect(resolvePassword("u", { input })).rejects.toSatisfy((e: unknown) => e instanceof InputError && e.problems[0]?.field === PASSWORD_ENV);
  });
});
