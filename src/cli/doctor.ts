/**
 * `shoal doctor [--repair] [--node NODE...|--all] [--format json]`: what each node's agent
 * would change in its kernel now, per object (links, addresses, routes, neighbours, fdb
 * entries, sysctls, nftables rules and elements, the resolver's sockets and redirect
 * tables, tasks whose process is gone): the same planners and diffs the agent applies,
 * printed instead of applied. `--repair` has the agent apply them now (one sync of each
 * part, the code that applies them normally) and says what it repaired and what it could
 * not.
 *
 * Without --node or --all it asks this node's agent on its local socket
 * (DATA-DIR/agent.sock): no manager is needed. With them it goes through the manager
 * (Runtime.Doctor, chosen as every API command chooses it: -H, --data-dir, the context),
 * which relays the request to each node's agent over its session; a node that is down or
 * whose agent is not connected is listed with its error code and counts as not clean.
 *
 * Output: format/doctor.ts. Exit status 0 when every node was checked and is clean (after
 * a repair: clean afterwards), 1 otherwise, 2 for a wrong command line.
 */
import type { Command } from 'commander';
import type { DoctorReport, NodeDoctor } from '../api/api-types.ts';
import { agentError } from '../agent/errors.ts';
import { localApiRequest } from '../agent/local-client.ts';
import type { CliContext } from './client-options.ts';
import { apiGroupOptions, collect, processContext, runCommand } from './client-options.ts';
import { doctorExitStatus, doctorJson, formatDoctor } from './format/doctor.ts';
import { localAgentSocket } from './local-agent.ts';
import { badFlagValue, UsageError } from './parse/usage-error.ts';

interface DoctorFlags {
  repair?: boolean;
  node?: string[];
  all?: boolean;
  format?: string;
  dataDir?: string;
}

/** How long a local doctor (or repair) may take: a full read of the node's kernel state, and its syncs. */
const LOCAL_TIMEOUT_MS = 120_000;

/** The local agent's report (its local API), as one node's result. */
export async function localDoctor(dataDir: string | undefined, repair: boolean): Promise<NodeDoctor> {
  const socket = localAgentSocket(dataDir, process.env);
  const { status, body } = repair
    ? await localApiRequest(socket, 'POST', '/doctor/repair', {}, LOCAL_TIMEOUT_MS)
    : await localApiRequest(socket, 'GET', '/doctor', undefined, LOCAL_TIMEOUT_MS);
  if (status !== 200) {
    const e = body as { code?: string; message?: string };
    throw agentError('SHOAL_ERR_AGENT_BAD_REQUEST', `the agent refused: ${e.message ?? status}${e.code ? ` (${e.code})` : ''}`);
  }
  const { nodeId, ...report } = body as DoctorReport & { nodeId?: string };
  return { nodeId: nodeId ?? '', nodeName: '', report, errorCode: '', errorMessage: '' };
}

export function registerDoctorCommand(program: Command, ctx: CliContext = processContext()): void {
  const cmd = program
    .command('doctor')
    .description("Check nodes' data planes against what their agents would program (--repair: apply it)")
    .option('--repair', 'have the agent apply the differences now, then report what was repaired and what was not')
    .option('--node <node>', 'check this node (name or ID) through the manager (repeatable)', collect)
    .option('--all', 'check every node of the cluster through the manager')
    .option('--format <format>', 'json: one JSON document (its shape: docs/cli.md)');
  apiGroupOptions(cmd);
  // the same flag names the agent's data directory when no manager is asked
  const dataDir = cmd.options.find((o) => o.long === '--data-dir');
  if (dataDir) {
    dataDir.description =
      "the agent's data directory (agent.sock), or with --node/--all the manager's (manager.sock) (default $SHOAL_DATA_DIR, else with --node/--all the context, else /var/lib/shoal)";
  }
  cmd.action(async (flags: DoctorFlags, self: Command) => {
    await runCommand(ctx, self, async (api) => {
      if (flags.format !== undefined && flags.format !== 'json') throw badFlagValue('--format', flags.format, 'want json');
      const named = flags.node ?? [];
      if (flags.all === true && named.length > 0) throw new UsageError('"shoal doctor" takes --node or --all, not both');
      const repair = flags.repair === true;
      const nodes =
        flags.all === true || named.length > 0
          ? await api().doctor({ ...(flags.all === true ? { all: true } : { nodes: named }), repair })
          : [await localDoctor(flags.dataDir, repair)];
      ctx.out(flags.format === 'json' ? `${JSON.stringify(doctorJson(nodes, repair), null, 2)}\n` : formatDoctor(nodes, repair));
      return doctorExitStatus(nodes);
    });
  });
}
