/**
 * `shoal agent`: joins this node to a cluster (first start, with a join token) or resumes
 * its persisted identity (later starts, or the manager's own node from the manager's data
 * directory), then keeps its session with the manager until SIGTERM or SIGINT.
 * Exit status 1 with one `Error` line when the join is refused or the manager no longer
 * knows the node.
 */
import { isIP } from 'node:net';
import type { Command } from 'commander';
import type { AgentIdentity } from '../agent/join.ts';
import { resolveDataDir } from '../api/data-dir.ts';
import { apiError } from '../api/errors.ts';
import { splitHostPort } from '../api/host-port.ts';
import { createLogger } from '../common/logger.ts';
import { badFlagValue } from './parse/usage-error.ts';

interface AgentFlags {
  joinToken?: string;
  manager?: string;
  advertiseAddr?: string;
  dataDir?: string;
  hostname?: string;
  logLevel?: string;
}

export function registerAgentCommands(program: Command): void {
  program
    .command('agent')
    .description("Run a node's agent: join the cluster (or resume), keep the session with the manager")
    .option('--join-token <token>', 'join token (SWMTKN-1-...) for the first start')
    .option('--manager <ip:port>', 'address of the manager (default: the one this node joined)')
    .option('--advertise-addr <ip>', "this node's underlay address")
    .option('--data-dir <dir>', 'directory of the node identity (default $SHOAL_DATA_DIR or /var/lib/shoal)')
    .option('--hostname <name>', 'node name to report (default: the host name)')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .action(async (flags: AgentFlags) => {
      if (flags.manager !== undefined && !splitHostPort(flags.manager)) throw badFlagValue('--manager', flags.manager, 'expected IP:PORT');
      if (flags.advertiseAddr !== undefined && isIP(flags.advertiseAddr) === 0)
        throw badFlagValue('--advertise-addr', flags.advertiseAddr, 'expected an IP address');
      const dataDir = resolveDataDir(flags.dataDir);
      // imported here: other commands need none of the agent's modules
      const { joinCluster, loadIdentity } = await import('../agent/join.ts');
      const { AgentSession } = await import('../agent/session-client.ts');
      const logger = createLogger({ name: 'shoal-agent', ...(flags.logLevel ? { level: flags.logLevel } : {}) });
      let identity: AgentIdentity | undefined = loadIdentity(dataDir);
      if (!identity) {
        if (!flags.joinToken || !flags.manager) {
          throw apiError(
            'SHOAL_ERR_BAD_JOIN_TOKEN',
            `${dataDir} holds no node identity: give --join-token and --manager to join a cluster`,
          );
        }
        if (!flags.advertiseAddr) throw apiError('SHOAL_ERR_BAD_SPEC', '--advertise-addr is required to join a cluster');
        identity = await joinCluster({
          token: flags.joinToken,
          managerAddr: flags.manager,
          advertiseAddr: flags.advertiseAddr,
          dataDir,
          ...(flags.hostname ? { hostname: flags.hostname } : {}),
        });
        process.stdout.write(`This node joined a swarm as a ${identity.role} (node ${identity.nodeId}).\n`);
      } else {
        process.stdout.write(`This node resumes as ${identity.role} ${identity.nodeId} of cluster ${identity.clusterId}.\n`);
      }
      const advertiseAddr = flags.advertiseAddr ?? '';
      let fatal: Error | undefined;
      await new Promise<void>((resolve) => {
        const session = new AgentSession({
          identity: identity!,
          ...(flags.manager ? { managerAddr: flags.manager } : {}),
          advertiseAddr,
          dataDir,
          logger,
          ...(flags.hostname ? { hostname: flags.hostname } : {}),
          onFatal: (err) => {
            fatal = err;
            stop();
          },
        });
        const stop = (): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          session.close();
          resolve();
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
        session.start();
      });
      if (fatal) throw fatal;
    });
}
