/**
 * The `shoal` command. Each command group lives in its own module and registers itself
 * here; this file only wires them and turns errors into one line and an exit code.
 */
import { Command, CommanderError } from 'commander';
import { isShoalError } from '../common/errors.ts';
import { isUsageError } from './parse/usage-error.ts';
import { registerTestbedCommands } from './testbed.ts';
import { registerNetworkCommands } from './network.ts';
import { registerServiceCommands } from './service.ts';
import { registerContainerCommands } from './container.ts';
import { registerNodeCommands } from './node.ts';
import { registerSwarmCommands } from './swarm.ts';
import { registerManagerCommands } from './manager.ts';
import { registerAgentCommands } from './agent.ts';

export function buildProgram(): Command {
  const program = new Command('shoal')
    .description('Container overlay networking for swarm clusters')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride();
  registerTestbedCommands(program);
  registerNetworkCommands(program);
  registerServiceCommands(program);
  registerContainerCommands(program);
  registerNodeCommands(program);
  registerSwarmCommands(program);
  registerManagerCommands(program);
  registerAgentCommands(program);
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
      // one line, as every command prints it (docs/cli.md); 2 for a wrong command line
      process.stderr.write(`Error: ${err.message} (${err.code})\n`);
      return isUsageError(err) ? 2 : 1;
    }
    process.stderr.write(`Error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return 1;
  }
}
