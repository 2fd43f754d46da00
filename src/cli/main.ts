/**
 * The `shoal` command. Each command group lives in its own module and registers itself
 * here; this file only wires them and turns errors into one line and an exit code. It loads
 * nothing a command does not use: `shoal --help` loads commander alone.
 */
import { Command, CommanderError } from 'commander';
import { isShoalError, printableMessage } from '../common/errors.ts';
import { SHOAL_VERSION } from '../common/version.ts';
import { isUsageError } from './parse/usage-error.ts';

type Register = (program: Command) => void;

/** A command group: its name, the one line the top-level help shows, and its module. */
interface Group {
  readonly name: string;
  readonly summary: string;
  readonly load: () => Promise<Register>;
}

/**
 * Command groups, loaded on demand: a command loads only its own group's modules (the
 * manager's start-up time counts toward its restart time). The top-level help lists the
 * groups from this table without loading any of them; a unit test checks that each summary
 * is the description its group registers.
 */
export const GROUPS: readonly Group[] = [
  { name: 'network', summary: 'Manage networks', load: async () => (await import('./network.ts')).registerNetworkCommands },
  { name: 'service', summary: 'Manage services', load: async () => (await import('./service.ts')).registerServiceCommands },
  {
    name: 'container',
    summary: 'Manage standalone containers on attachable networks',
    load: async () => (await import('./container.ts')).registerContainerCommands,
  },
  {
    name: 'exec',
    summary: 'Execute a command in a running task or container',
    load: async () => (await import('./exec.ts')).registerExecCommand,
  },
  { name: 'logs', summary: 'Fetch the logs of a task or container', load: async () => (await import('./logs.ts')).registerLogsCommand },
  { name: 'node', summary: 'Manage cluster nodes', load: async () => (await import('./node.ts')).registerNodeCommands },
  { name: 'swarm', summary: 'Manage the cluster', load: async () => (await import('./swarm.ts')).registerSwarmCommands },
  {
    name: 'manager',
    summary: 'Run the shoal manager: cluster store, allocator, scheduler and API',
    load: async () => (await import('./manager.ts')).registerManagerCommands,
  },
  {
    name: 'agent',
    summary: "Run a node's agent: join the cluster (or resume) and program its data plane",
    load: async () => (await import('./agent.ts')).registerAgentCommands,
  },
  {
    name: 'doctor',
    summary: "Check nodes' data planes against what their agents would program (--repair: apply it)",
    load: async () => (await import('./doctor.ts')).registerDoctorCommand,
  },
  {
    name: 'testbed',
    summary: 'Simulate several hosts with network namespaces on this machine (root)',
    load: async () => (await import('./testbed.ts')).registerTestbedCommands,
  },
  {
    name: 'demo',
    summary: 'Tour a 3-host cluster on this machine (root): routing mesh, DNS, scaling, drain, node failure',
    load: async () => (await import('./demo.ts')).registerDemoCommand,
  },
  {
    name: 'info',
    summary: "Display cluster-wide information and this node's data plane",
    load: async () => (await import('./info.ts')).registerInfoCommand,
  },
  {
    name: 'version',
    summary: 'Show the shoal version of this client and of the manager',
    load: async () => (await import('./version.ts')).registerVersionCommand,
  },
];

/**
 * The program for `argv`: the group argv[0] names, fully loaded; otherwise (help, --version,
 * an unknown command) every group as a one-line entry, so that help costs no group's modules.
 * `shoal help GROUP` becomes `shoal GROUP --help`.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<{ program: Command; argv: readonly string[] }> {
  const program = rootCommand();
  const helpFor = argv[0] === 'help' ? GROUPS.find((g) => g.name === argv[1]) : undefined;
  const wanted = helpFor ?? GROUPS.find((g) => g.name === argv[0]);
  if (wanted) {
    (await wanted.load())(program);
    return { program, argv: helpFor ? [helpFor.name, '--help'] : argv };
  }
  for (const g of GROUPS) program.command(g.name).description(g.summary);
  return { program, argv };
}

/**
 * The top-level command, with the groups' usage conventions (client-options.ts, not
 * imported here: it loads the API client): a wrong command line is one line on stderr,
 * `(see 'shoal --help')`, commander's "Did you mean" on the same line, exit status 2.
 */
export function rootCommand(): Command {
  return new Command('shoal')
    .description('Container overlay networking for swarm clusters')
    .version(SHOAL_VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`Error: ${oneLine(str)} (see 'shoal --help')\n`) });
}

/** Commander's message without its "error: " and with its "(Did you mean ...?)" line joined. */
function oneLine(message: string): string {
  return message
    .trim()
    .replace(/^error:\s*/i, '')
    .replace(/\s*\n\s*/g, ' ');
}

/** Commander's errors that mean the top-level command line is wrong. */
const ROOT_USAGE_CODES: ReadonlySet<string> = new Set(['commander.unknownCommand', 'commander.unknownOption', 'commander.excessArguments']);

/** The exit status of a CommanderError that reached main(): 2 for a wrong command line. */
export function commanderExitStatus(err: CommanderError): number {
  return err.exitCode !== 0 && ROOT_USAGE_CODES.has(err.code) ? 2 : err.exitCode;
}

export async function main(argv: string[]): Promise<number> {
  const { program, argv: args } = await buildProgram(argv);
  try {
    await program.parseAsync(args, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed help, version or the usage error
      return commanderExitStatus(err);
    }
    if (isShoalError(err)) {
      // one line, as every command prints it (docs/cli.md); 2 for a wrong command line,
      // whose message quotes what was typed (control characters escaped)
      const { message, code } = err;
      const usage = isUsageError(err);
      process.stderr.write(`Error: ${usage ? printableMessage(message) : message} (${code})\n`);
      return usage ? 2 : 1;
    }
    process.stderr.write(`Error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
