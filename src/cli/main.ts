/**
 * The `shoal` command. Each command group lives in its own module and registers itself
 * here; this file only wires them and turns errors into one line and an exit code.
 */
import { Command, CommanderError } from 'commander';
import { isShoalError } from '../common/errors.ts';
import { registerTestbedCommands } from './testbed.ts';

export function buildProgram(): Command {
  const program = new Command('shoal')
    .description('Container overlay networking for swarm clusters')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride();
  registerTestbedCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed help, version or the usage error
      return err.exitCode;
    }
    if (isShoalError(err)) {
      process.stderr.write(`Error response from shoal: ${err.message} (${err.code})\n`);
      return 1;
    }
    process.stderr.write(`Error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return 1;
  }
}
