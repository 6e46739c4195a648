/**
 * `rehost status`: wave → VM → disk from the source proxy (docs/status.md). The proxy is reached
 * as the providers reach it: its URL, bearer token and certificate pin from flags or the same
 * `REHOST_PROXY_*` environment variables (`REHOST_AGENT_*` for the agents, which are optional).
 * Every input is checked before the proxy is asked; a proxy that refuses the token or presents
 * another certificate is bad input too (exit 2).
 */
import * as fs from "node:fs";
import type { Command } from "commander";
import { CREDENTIALS } from "../../providers/credentials";
import { InputError, problem, type Problem } from "../../problems";

interface StatusCommandOptions {
  proxy?: string;
  tokenFile?: string;
  fingerprint?: string;
  ca?: string;
  agentTokenFile?: string;
  agentFingerprint?: string;
  agentCa?: string;
  plan?: string;
  json?: boolean;
  watch?: string | true;
  policyConfig?: boolean;
  expectedShutdown?: string;
}

/** The environment variable of the proxy's URL (the providers take it as an input, `rehost status` from here). */
const PROXY_URL_ENV = "REHOST_PROXY_URL";

/** Registers `rehost status`. */
export function register(program: Command): void {
  program
    .command("status")
    .description(
      "Show wave → VM → disk as the source proxy replicates them: state, recovery point age, rate, bytes moved, initial-sync ETA, predicted cutover downtime.",
    )
    .option("--proxy <url>", `the source proxy, https://HOST:PORT (or ${PROXY_URL_ENV})`)
    .option("--token-file <file>", `file holding the proxy's bearer token (or ${CREDENTIALS.proxyToken.env}, ${CREDENTIALS.proxyTokenFile.env})`)
    .option("--fingerprint <sha256>", `SHA-256 fingerprint of the proxy's certificate (or ${CREDENTIALS.proxyFingerprint.env})`)
    .option("--ca <file>", `PEM CA the proxy's certificate chains to, instead of a fingerprint (or ${CREDENTIALS.proxyCaFile.env})`)
    .option(
      "--agent-token-file <file>",
      `the agents' bearer token, to show initial-sync progress and every round's bytes (or ${CREDENTIALS.agentToken.env}, ${CREDENTIALS.agentTokenFile.env})`,
    )
    .option("--agent-fingerprint <sha256>", `the agents' certificate fingerprints, comma-separated (or ${CREDENTIALS.agentFingerprint.env})`)
    .option("--agent-ca <file>", `PEM CA the agents' certificates chain to (or ${CREDENTIALS.agentCaFile.env})`)
    .option("--plan <file>", "a plan (rehost plan --format json) to group the VMs into its waves and check their change windows")
    .option("--json", "one JSON document (with --watch: one line per refresh)")
    .option("--watch [seconds]", "refresh every N seconds (default 5) until Ctrl-C (exit 130)")
    .option("--expected-shutdown <duration>", "the guest shutdown the predicted downtime assumes (30s, 2m, or seconds; default the proxy's 60 s)")
    .option("--policy-config", "print the policy pack config with every VM's predicted downtime (for pulumi preview --policy-pack-config)")
    .action(async (flags: StatusCommandOptions) => {
      await runStatus(flags, process.env);
    });
}

/** The inputs, checked: every problem at once. */
function resolveInputs(flags: StatusCommandOptions, env: NodeJS.ProcessEnv) {
  const problems: Problem[] = [];
  const value = (flag: string | undefined, name: string): string | undefined =>
    flag !== undefined && flag !== "" ? flag : env[name] !== undefined && env[name] !== "" ? env[name] : undefined;
  const readFile = (file: string, field: string, what: string): string | undefined => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch (err) {
      problems.push(
        problem({
          field,
          received: file,
          expected: `a readable file holding ${what}`,
          message: `The file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}).`,
          fix: `give ${field} a file that exists`,
        }),
      );
      return undefined;
    }
  };

  const url = value(flags.proxy, PROXY_URL_ENV);
  if (url === undefined)
    problems.push(
      problem({
        field: "--proxy",
        expected: "https://HOST:PORT of the source proxy",
        message: "No source proxy was given.",
        fix: `pass --proxy https://HOST:PORT or set ${PROXY_URL_ENV}`,
      }),
    );
  else if (!/^https:\/\/[^/\s]+(:\d+)?\/?$/.test(url))
    problems.push(
      problem({
        field: "--proxy",
        received: url,
        expected: "https://HOST:PORT",
        message: "The proxy URL is not https://HOST:PORT.",
        fix: "give the address rehost proxy prints when it starts (listening on …)",
      }),
    );

  let token = value(undefined, CREDENTIALS.proxyToken.env);
  const tokenFile = value(flags.tokenFile, CREDENTIALS.proxyTokenFile.env);
  if (flags.tokenFile !== undefined || token === undefined) {
    if (tokenFile === undefined)
      problems.push(
        problem({
          field: "--token-file",
          expected: "the proxy's token file",
          message: "No bearer token for the proxy was given.",
          fix: `pass --token-file (the proxy's <state>/token) or set ${CREDENTIALS.proxyToken.env} or ${CREDENTIALS.proxyTokenFile.env}`,
        }),
      );
    else {
      const text = readFile(tokenFile, "--token-file", "the proxy's bearer token");
      if (text !== undefined) {
        token = text.trim();
        if (token === "")
          problems.push(
            problem({
              field: "--token-file",
              received: tokenFile,
              expected: "a file holding the token",
              message: `The token file ${tokenFile} is empty.`,
              fix: "give the proxy's token file (<state>/token)",
            }),
          );
      }
    }
  }
  const fingerprint = value(flags.fingerprint, CREDENTIALS.proxyFingerprint.env);
  const caFile = value(flags.ca, CREDENTIALS.proxyCaFile.env);
  const ca = caFile !== undefined ? readFile(caFile, "--ca", "a PEM CA certificate") : undefined;
  if (fingerprint === undefined && caFile === undefined)
    problems.push(
      problem({
        field: "--fingerprint",
        expected: "the SHA-256 fingerprint of the proxy's certificate, or --ca",
        message: "No way to authenticate the proxy was given.",
        fix: `pass --fingerprint (rehost proxy prints it when it starts) or --ca, or set ${CREDENTIALS.proxyFingerprint.env}`,
      }),
    );
  if (fingerprint !== undefined && !/^([0-9A-Fa-f]{2}:?){32}(,([0-9A-Fa-f]{2}:?){32})*$/.test(fingerprint.replace(/\s/g, "")))
    problems.push(
      problem({
        field: "--fingerprint",
        received: fingerprint,
        expected: "a SHA-256 fingerprint (32 hex bytes, colons optional)",
        message: "The proxy's fingerprint is not a SHA-256 fingerprint.",
        fix: "copy the fingerprint rehost proxy prints when it starts",
      }),
    );

  // The agents are optional: asked only when their token is given.
  let agents: { token: string; fingerprint?: string; ca?: string } | undefined;
  const agentTokenFile = value(flags.agentTokenFile, CREDENTIALS.agentTokenFile.env);
  const agentTokenEnv = value(undefined, CREDENTIALS.agentToken.env);
  if (agentTokenFile !== undefined || agentTokenEnv !== undefined) {
    const agentToken = agentTokenFile !== undefined ? readFile(agentTokenFile, "--agent-token-file", "the agents' bearer token")?.trim() : agentTokenEnv;
    const agentFingerprint = value(flags.agentFingerprint, CREDENTIALS.agentFingerprint.env);
    const agentCaFile = value(flags.agentCa, CREDENTIALS.agentCaFile.env);
    const agentCa = agentCaFile !== undefined ? readFile(agentCaFile, "--agent-ca", "a PEM CA certificate") : undefined;
    if (agentFingerprint === undefined && agentCaFile === undefined)
      problems.push(
        problem({
          field: "--agent-fingerprint",
          expected: "the agents' certificate fingerprints, or --agent-ca",
          message: "The agents' token was given but no way to authenticate them.",
          fix: `pass --agent-fingerprint or --agent-ca, or set ${CREDENTIALS.agentFingerprint.env}`,
        }),
      );
    if (agentToken !== undefined && agentToken !== "") agents = { token: agentToken, fingerprint: agentFingerprint, ca: agentCa };
  }

  let plan: import("../../plan/types").Plan | undefined;
  if (flags.plan !== undefined) {
    const text = readFile(flags.plan, "--plan", "a plan");
    if (text !== undefined) {
      try {
        const parsed = JSON.parse(text) as { version?: unknown; waves?: unknown };
        if (parsed.version !== 1 || !Array.isArray(parsed.waves)) throw new Error("no version 1 and no waves");
        plan = parsed as import("../../plan/types").Plan;
      } catch (err) {
        problems.push(
          problem({
            field: "--plan",
            received: flags.plan,
            expected: "the JSON of rehost plan --format json",
            message: `The plan ${flags.plan} is not a rehost plan (${(err as Error).message}).`,
            fix: "write it with rehost plan --format json --out plan.json",
          }),
        );
      }
    }
  }

  let watchSeconds: number | undefined;
  if (flags.watch !== undefined) {
    watchSeconds = flags.watch === true ? 5 : Number(flags.watch);
    if (!Number.isFinite(watchSeconds) || watchSeconds < 0.5 || watchSeconds > 3600) {
      problems.push(
        problem({
          field: "--watch",
          received: String(flags.watch),
          expected: "seconds between 0.5 and 3600",
          message: "The refresh interval is not a number of seconds between 0.5 and 3600.",
          fix: "pass --watch 5, or --watch alone for every 5 s",
        }),
      );
    }
  }
  if (problems.length > 0) throw new InputError(problems);
  let shutdownSeconds: number | undefined;
  if (flags.expectedShutdown !== undefined) {
    const { DurationSchema }: typeof import("../../providers/inputs") = require("../../providers/inputs");
    const parsed = DurationSchema.safeParse(flags.expectedShutdown);
    if (parsed.success && parsed.data <= 86400) shutdownSeconds = parsed.data;
    else
      problems.push(
        problem({
          field: "--expected-shutdown",
          received: flags.expectedShutdown,
          expected: "a duration up to a day: 30s, 2m or whole seconds",
          message: "The expected shutdown is not a duration.",
          fix: "pass --expected-shutdown 90s",
        }),
      );
  }
  return { url: url!.replace(/\/$/, ""), token: token!, fingerprint, ca, agents, plan, watchSeconds, shutdownSeconds };
}

/** Runs the command: once, or every `--watch` seconds until SIGINT/SIGTERM. */
async function runStatus(flags: StatusCommandOptions, env: NodeJS.ProcessEnv): Promise<void> {
  const inputs = resolveInputs(flags, env);
  const { ProxyClient, ProxyRequestError }: typeof import("../../proxy/client") = require("../../proxy/client");
  const { AgentClient }: typeof import("../../agent/client") = require("../../agent/client");
  const { gatherStatus, renderStatus }: typeof import("../status") = require("../status");
  const proxy = new ProxyClient({ url: inputs.url, token: inputs.token, fingerprint: inputs.fingerprint, ca: inputs.ca, timeoutMs: 15_000 });
  const agents = inputs.agents;
  const sources = {
    proxyUrl: inputs.url,
    proxy,
    plan: inputs.plan,
    shutdownSeconds: inputs.shutdownSeconds,
    ...(agents !== undefined ? { agent: (url: string) => new AgentClient({ url, ...agents, timeoutMs: 15_000 }) } : {}),
  };

  const once = async () => {
    try {
      return await gatherStatus(sources);
    } catch (err) {
      if (err instanceof ProxyRequestError && (err.status === 401 || err.status === 0)) {
        const field = err.status === 401 ? "--token-file" : /certificate|pinned/.test(err.message) ? "--fingerprint" : "--proxy";
        const fix =
          err.status === 401
            ? "give the proxy's own token file (<state>/token)"
            : field === "--fingerprint"
              ? "give the fingerprint rehost proxy printed when it started"
              : "check the address and that rehost proxy runs there";
        throw new InputError(problem({ field, received: field === "--proxy" ? inputs.url : undefined, message: err.message, fix }));
      }
      throw err;
    }
  };
  if (flags.policyConfig === true) {
    if (inputs.watchSeconds !== undefined)
      throw new InputError(
        problem({ field: "--policy-config", message: "--policy-config prints one document; it does not go with --watch.", fix: "leave --watch out" }),
      );
    const { policyConfigOf }: typeof import("../status") = require("../status");
    process.stdout.write(`${JSON.stringify(policyConfigOf(await once()), null, 2)}\n`);
    return;
  }
  const tty = process.stdout.isTTY === true && flags.json !== true;
  const print = (report: Awaited<ReturnType<typeof once>>): void => {
    if (flags.json === true) process.stdout.write(`${JSON.stringify(report, null, inputs.watchSeconds === undefined ? 2 : undefined)}\n`);
    else process.stdout.write(`${tty && inputs.watchSeconds !== undefined ? "\x1b[H\x1b[2J" : ""}${renderStatus(report, { tty })}`);
  };

  // The first answer decides: bad credentials are bad input, before any watching.
  print(await once());
  if (inputs.watchSeconds === undefined) return;
  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      process.exitCode = 130;
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    const tick = (): void => {
      timer = setTimeout(() => {
        void once()
          .then(print, (err: unknown) => process.stderr.write(`rehost status: ${(err as Error).message} (trying again in ${inputs.watchSeconds} s)\n`))
          .finally(() => {
            if (!stopped) tick();
          });
      }, inputs.watchSeconds! * 1000);
    };
    tick();
  });
}
