/**
 * `shoal exec [OPTIONS] TASK|CONTAINER COMMAND [ARG...]`: Docker's `docker exec`, for a
 * task or a standalone container anywhere in the cluster. The manager relays the command
 * to the agent of the node that runs it (over that agent's session), which runs it in the
 * task's sandbox; the output comes back when the command ends.
 *
 * The command's stdout and stderr are written as they came (bytes, not text: binary
 * output survives), stdout first, and `shoal exec` exits with the command's exit status,
 * as `docker exec` does. Options are read before TASK only; everything after it is the
 * command (so `shoal exec web.1 ls -l` works, and `--` is optional).
 *
 * What is honoured, and what is not: `-e/--env` (added to the task's environment; a bare
 * NAME takes this shell's value, or is left out when unset, as Docker does), `-w/--workdir`,
 * and shoal's own `--timeout` (the command is stopped after it; default 60s, at most 1h:
 * the output travels in one answer). There is no TTY and no stdin (`-i`, `-t`), no
 * detaching (`-d`) and no other user (`-u`): those are refused as unknown options.
 *
 * Errors are one `Error: ...` line and exit status 1: no such task or container, not
 * running, its node down or its agent not connected, no answer in time.
 */
import type { Command } from 'commander';
import { MAX_EXEC_TIMEOUT_MS } from '../api/api-defaults.ts';
import type { CliContext } from './client-options.ts';
import { apiGroupOptions, collect, processContext, runCommand } from './client-options.ts';
import { parseDurationMs } from './parse/duration.ts';
import { parseEnv } from './parse/key-value.ts';
import { badFlagValue, UsageError } from './parse/usage-error.ts';

/** Where a command's raw output goes: bytes, unchanged (the CLI's text output cannot carry binary). */
export interface ByteOutput {
  stdout(bytes: Uint8Array): void;
  stderr(bytes: Uint8Array): void;
}

/** The output of a real `shoal` process. */
export function processByteOutput(): ByteOutput {
  return {
    stdout: (b) => void process.stdout.write(b),
    stderr: (b) => void process.stderr.write(b),
  };
}

interface ExecFlags {
  env?: string[];
  workdir?: string;
  timeout?: string;
}

/** A process exit status from a command's: 0-255 as a shell reports it (-1 -> 255). */
export function exitStatus(code: number): number {
  return Number.isInteger(code) ? ((code % 256) + 256) % 256 : 1;
}

export function registerExecCommand(program: Command, ctx: CliContext = processContext(), io: ByteOutput = processByteOutput()): void {
  // options after TASK belong to the command: the parent must stop at subcommands' positions
  program.enablePositionalOptions();
  const cmd = program
    .command('exec')
    .description('Execute a command in a running task or container')
    .usage('[options] TASK|CONTAINER COMMAND [ARG...]')
    .argument('<target>', 'task (ID, ID prefix, name, or SERVICE.SLOT) or container (name or ID)')
    .argument('<command...>', 'the command to run and its arguments')
    .option('-e, --env <var>', 'set an environment variable: NAME=value, or NAME to copy it from here (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory inside the task')
    .option('--timeout <duration>', 'stop the command after this long (ms|s|m|h) (default 60s, at most 1h)')
    .passThroughOptions();
  apiGroupOptions(cmd);
  cmd.action(async (target: string, command: string[], flags: ExecFlags, self: Command) => {
    await runCommand(ctx, self, async (api) => {
      const argv = command[0] === '--' ? command.slice(1) : command;
      if (argv.length === 0) throw new UsageError('"shoal exec" requires a command to run after TASK|CONTAINER');
      const env = (flags.env ?? []).map((e) => parseEnv(e, ctx.env, '--env')).filter((e) => e.includes('='));
      let timeoutMs: number | undefined;
      if (flags.timeout !== undefined) {
        timeoutMs = parseDurationMs(flags.timeout, '--timeout');
        if (timeoutMs <= 0 || timeoutMs > MAX_EXEC_TIMEOUT_MS)
          throw badFlagValue('--timeout', flags.timeout, 'want more than 0 and at most 1h');
      }
      const result = await api().exec({
        target,
        argv,
        env,
        ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
      if (result.stdout.length > 0) io.stdout(result.stdout);
      if (result.stderr.length > 0) io.stderr(result.stderr);
      return exitStatus(result.exitCode);
    });
  });
}
