/**
 * What every command that talks to the manager shares: the global flags that say which
 * manager (`-H/--host`, `--data-dir`, and SHOAL_HOST / SHOAL_DATA_DIR from the environment),
 * how a command group is set up, and how a command's outcome becomes output and an exit
 * status.
 *
 * Which manager, first match wins:
 *   1. -H/--host unix:///path/to/manager.sock | tcp://IP:2377
 *   2. SHOAL_HOST (same forms, as DOCKER_HOST)
 *   3. the unix socket in --data-dir, else in SHOAL_DATA_DIR
 *   4. the context file SHOAL_CONTEXT names, else /run/shoal/context.json if it exists (what
 *      `shoal testbed up` writes for its manager; src/api/context.ts)
 *   5. the unix socket in /var/lib/shoal
 * SHOAL_DATA_DIR ranks with --data-dir, above the context: both name a directory on purpose
 * (tests point every command at their own manager with it).
 * A tcp:// host uses mTLS with the certificates in SHOAL_CERT_PATH or DATA-DIR/certificates.
 *
 * Exit status (documented in docs/cli.md):
 *   0  success
 *   1  the manager refused the request or could not be reached, or some of several targets
 *      failed (`network rm a b c`); one line `Error: <message> (<CODE>)` per failure
 *   2  the command line is wrong (unknown flag, missing argument, a flag value that does not
 *      parse); nothing was sent to the manager
 *
 * The groups' flags are recognised before or after the subcommand
 * (`shoal network -H unix:///s ls` and `shoal network ls -H unix:///s`).
 */
import { createInterface } from 'node:readline';
import { type Command, CommanderError } from 'commander';
import { isShoalError, printableMessage } from '../common/errors.ts';
import type { ManagerApi, ConnectOptions } from '../api/client.ts';
import { connectManager } from '../api/client.ts';
import { readSelectedContext, type ShoalContext } from '../api/context.ts';
import { isUsageError } from './parse/usage-error.ts';

/** Flags every API command group carries. */
export interface ClientFlags {
  readonly host?: string;
  readonly dataDir?: string;
}

/** The manager API plus closing the connection. */
export type ApiHandle = ManagerApi & { close(): void };

/** What a command may use: the API, output streams, a clock, the environment, stdin. */
export interface CliContext {
  connect(flags: ClientFlags): ApiHandle;
  out(text: string): void;
  err(text: string): void;
  /** Reads one line from the user (undefined at end of input). */
  readLine(prompt: string): Promise<string | undefined>;
  now(): number;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Commander's error codes that mean "the command line is wrong". */
const USAGE_CODES: ReadonlySet<string> = new Set([
  'commander.unknownOption',
  'commander.unknownCommand',
  'commander.missingArgument',
  'commander.optionMissingArgument',
  'commander.missingMandatoryOptionValue',
  'commander.excessArguments',
  'commander.invalidArgument',
  'commander.conflictingOption',
]);

/**
 * The connect options for the given flags and environment (see the module comment).
 * `readContext` finds the selected context (injected by tests); it is asked only when no
 * flag and no variable names the manager.
 */
export function connectOptions(
  flags: ClientFlags,
  env: Readonly<Record<string, string | undefined>> = process.env,
  readContext: (env: Readonly<Record<string, string | undefined>>) => ShoalContext | undefined = readSelectedContext,
): ConnectOptions {
  const opts: ConnectOptions = { env: env as NodeJS.ProcessEnv };
  const given = (v: string | undefined): v is string => v !== undefined && v !== '';
  if (given(flags.host)) opts.host = flags.host;
  if (given(flags.dataDir)) opts.dataDir = flags.dataDir;
  if (opts.host !== undefined || opts.dataDir !== undefined || given(env['SHOAL_HOST']) || given(env['SHOAL_DATA_DIR'])) return opts;
  const ctx = readContext(env);
  if (ctx !== undefined) {
    opts.host = ctx.host;
    if (ctx.dataDir !== undefined) opts.dataDir = ctx.dataDir;
  }
  return opts;
}

function readLineFromStdin(prompt: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    process.stdout.write(prompt);
    const rl = createInterface({ input: process.stdin, terminal: false });
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(line);
    });
    rl.once('close', () => {
      if (!answered) resolve(undefined);
    });
  });
}

/** The context of a real `shoal` process. */
export function processContext(): CliContext {
  return {
    connect: (flags) => connectManager(connectOptions(flags)),
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    readLine: readLineFromStdin,
    now: () => Date.now(),
    env: process.env,
  };
}

/** The one line printed for an error. */
export function errorLine(err: unknown): string {
  if (isShoalError(err)) return `Error: ${printableMessage(err.message)} (${err.code})`;
  return `Error: ${printableMessage(err instanceof Error ? err.message : String(err))}`;
}

/** The exit status of an error: 2 for a wrong command line, 1 for everything else. */
export function exitStatusOf(err: unknown): number {
  return isUsageError(err) ? EXIT_USAGE : EXIT_FAILED;
}

/** Ends the command with `status` after its output was printed (main() returns it). */
export function exitWith(status: number, message = '(reported)'): never {
  throw new CommanderError(status, 'shoal.failed', message);
}

/**
 * Creates a command group (`network`, `service`, ...) with the client flags, usage errors
 * as exit status 2 with one line on stderr, and no help dump after an error.
 */
export function apiGroup(program: Command, name: string, description: string): Command {
  return apiGroupOptions(program.command(name).description(description));
}

/** Adds the client flags (-H, --data-dir) and the usage-error conventions to a command. */
export function apiGroupOptions(cmd: Command): Command {
  cmd.option(
    '-H, --host <url>',
    'manager: unix:///path/manager.sock or tcp://IP:2377 (default $SHOAL_HOST, else the data dir, else the context of `shoal testbed up`)',
  );
  cmd.option(
    '--data-dir <dir>',
    'data directory with the manager socket (default $SHOAL_DATA_DIR, else the context ($SHOAL_CONTEXT), else /var/lib/shoal)',
  );
  configureUsage(cmd);
  return cmd;
}

/** Applies the usage-error conventions to one command (done for every leaf by finishGroup). */
function configureUsage(cmd: Command): void {
  cmd.exitOverride((err) => {
    if (err.exitCode !== 0 && USAGE_CODES.has(err.code)) throw new CommanderError(EXIT_USAGE, err.code, err.message);
    throw err;
  });
  cmd.showHelpAfterError(false);
  const path = commandPath(cmd);
  cmd.configureOutput({
    outputError: (str, write) => {
      // one line: commander puts its "(Did you mean ...?)" on a line of its own
      const msg = str
        .trim()
        .replace(/^error:\s*/i, '')
        .replace(/\s*\n\s*/g, ' ');
      write(`Error: ${msg} (see 'shoal ${path} --help')\n`);
    },
  });
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Applies the conventions to every subcommand of a group; call after adding them. */
export function finishGroup(group: Command): void {
  for (const sub of group.commands) configureUsage(sub);
}

/** The client flags given anywhere on the command line. */
export function clientFlags(cmd: Command): ClientFlags {
  const o = cmd.optsWithGlobals<{ host?: string; dataDir?: string }>();
  const flags: { host?: string; dataDir?: string } = {};
  if (o.host !== undefined) flags.host = o.host;
  if (o.dataDir !== undefined) flags.dataDir = o.dataDir;
  return flags;
}

/**
 * Runs a command body. Parsing the command line happens in `body` before it asks for the
 * API (so a usage error never opens a connection); any error is printed as one line and
 * turned into the exit status. The body returns the exit status when it handled errors
 * itself (several targets), or nothing for success.
 */
export async function runCommand(
  ctx: CliContext,
  cmd: Command,
  // biome-ignore lint/suspicious/noConfusingVoidType: a body that returns nothing leaves the exit code alone
  body: (api: () => ApiHandle) => Promise<number | void>,
): Promise<void> {
  let handle: ApiHandle | undefined;
  const api = (): ApiHandle => {
    handle ??= ctx.connect(clientFlags(cmd));
    return handle;
  };
  let status: number;
  try {
    status = (await body(api)) ?? EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) throw err;
    ctx.err(`${errorLine(err)}\n`);
    status = exitStatusOf(err);
  } finally {
    handle?.close();
  }
  if (status !== EXIT_OK) exitWith(status);
}

/** Collects a repeatable flag's values (`--label a --label b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
