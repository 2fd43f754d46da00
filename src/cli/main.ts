/**
 * The `shoal` command. Each command group lives in its own module and registers itself
 * here; this file only wires them and turns errors into one line and an exit code.
 */
import { Command, CommanderError } from 'commander';
import { isShoalError } from '../common/errors.ts';
import { SHOAL_VERSION } from '../common/version.ts';
import { isUsageError } from './parse/usage-error.ts';

type Register = (program: Command) => void;

/**
 * Command groups, loaded on demand: a command loads only its own group's modules (the
 * manager's start-up time counts toward its restart time), while help and unknown
 * commands load them all.
 */
const GROUPS: ReadonlyArray<readonly [string, () => Promise<Register>]> = [
  ['network', async () => (await import('./network.ts')).registerNetworkCommands],
  ['service', async () => (await import('./service.ts')).registerServiceCommands],
  ['container', async () => (await import('./container.ts')).registerContainerCommands],
  ['node', async () => (await import('./node.ts')).registerNodeCommands],
  ['swarm', async () => (await import('./swarm.ts')).registerSwarmCommands],
  ['manager', async () => (await import('./manager.ts')).registerManagerCommands],
  ['agent', async () => (await import('./agent.ts')).registerAgentCommands],
  ['testbed', async () => (await import('./testbed.ts')).registerTestbedCommands],
];

/** The program with the group named by argv[0], or every group when argv names none. */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('shoal')
    .description('Container overlay networking for swarm clusters')
    .version(SHOAL_VERSION)
    .showHelpAfterError(false)
    .exitOverride();
  const wanted = GROUPS.filter(([name]) => name === argv[0]);
  for (const [, load] of wanted.length > 0 ? wanted : GROUPS) (await load())(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
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
    process.stderr.write(`Error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
