/**
 * The vCenter password: from `REHOST_VCENTER_PASSWORD`, or asked for on a terminal without echo.
 * Never from the command line, never written anywhere.
 */
import { InputError, problem } from "../problems";

/** The environment variable rehost reads the vCenter password from. */
export const PASSWORD_ENV = "REHOST_VCENTER_PASSWORD";

/**
 * Returns the password from the environment, or asks for it when standard input is a terminal.
 * @throws InputError when neither is possible.
 */
export async function resolvePassword(user: string, io: { input?: NodeJS.ReadStream; output?: NodeJS.WriteStream } = {}): Promise<string> {
  const fromEnv = process.env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const input = io.input ?? process.stdin;
  const output = io.output ?? process.stderr;
  if (!input.isTTY) {
    throw new InputError(
      problem({
        field: PASSWORD_ENV,
        received: "not set, and no terminal to ask on",
        expected: `the password of ${user}`,
        fix: `set ${PASSWORD_ENV} in the environment (the password is never accepted on the command line)`,
        message: "No vCenter password was given",
      }),
    );
  }
  return promptHidden(`Password for ${user}: `, input, output);
}

function promptHidden(question: string, input: NodeJS.ReadStream, output: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(question);
    let answer = "";
    const wasRaw = input.isRaw;
    input.setRawMode(true);
    input.resume();
    input.setEncoding("utf8");
    const done = (err?: Error) => {
      input.setRawMode(wasRaw);
      input.pause();
      input.removeListener("data", onData);
      output.write("\n");
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return done();
        if (ch === "\u0003") return done(new InputError(problem({ field: PASSWORD_ENV, message: "The password prompt was interrupted" })));
        if (ch === "\u007f" || ch === "\b") answer = answer.slice(0, -1);
        else answer += ch;
      }
    };
    input.on("data", onData);
  });
}
