/**
 * `shoal agent`: joins this node to a cluster (first start, with a join token) or resumes
 * its persisted identity (later starts, or the manager's own node from the manager's data
 * directory), then runs the node's data plane (src/agent/agent.ts) until SIGTERM or
 * SIGINT, logging JSON lines to stderr. SIGTERM stops the node's tasks and removes every
 * kernel object the agent made, unless --keep-state (then a later agent adopts both).
 * Exit status 1 with one `Error` line when the join is refused or the manager no longer
 * knows the node.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { AgentIdentity } from '../agent/join.ts';
import { resolveDataDir } from '../api/data-dir.ts';
import { apiError } from '../api/errors.ts';
import { splitHostPort } from '../api/host-port.ts';
import { createLogger } from '../common/logger.ts';
import { parseUint } from './parse/numbers.ts';
import { badFlagValue } from './parse/usage-error.ts';

interface AgentFlags {
  joinToken?: string;
  manager?: string;
  advertiseAddr?: string;
  dataDir?: string;
  hostname?: string;
  logLevel?: string;
  prefix: string;
  gossipPort: string;
  dnsTtl: string;
  keepState?: boolean;
}

export function registerAgentCommands(program: Command): void {
  program
    .command('agent')
    .description("Run a node's agent: join the cluster (or resume) and program its data plane")
    .option('--join-token <token>', 'join token (SWMTKN-1-...) for the first start')
    .option('--manager <ip:port>', 'address of the manager (default: the one this node joined)')
    .option('--advertise-addr <ip>', "this node's underlay address")
    .option('--data-dir <dir>', 'directory of the node identity (default $SHOAL_DATA_DIR or /var/lib/shoal)')
    .option('--hostname <name>', 'node name to report (default: the host name)')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .option('--prefix <prefix>', 'prefix of every namespace, link and nftables table the agent creates', 'shoal-')
    .option('--gossip-port <port>', 'UDP and TCP port of gossip with the other agents', '7946')
    .option('--dns-ttl <seconds>', "TTL of the embedded resolver's own answers (names follow tasks within it)", '5')
    .option('--keep-state', 'on SIGTERM, leave tasks running and kernel objects in place for the next agent to adopt')
    .action(async (flags: AgentFlags) => {
      if (flags.manager !== undefined && !splitHostPort(flags.manager)) throw badFlagValue('--manager', flags.manager, 'expected IP:PORT');
      if (flags.advertiseAddr !== undefined && isIP(flags.advertiseAddr) === 0)
        throw badFlagValue('--advertise-addr', flags.advertiseAddr, 'expected an IP address');
      if (!/^[a-z0-9][a-z0-9.-]{0,11}$/i.test(flags.prefix) || !flags.prefix.endsWith('-'))
        throw badFlagValue(
          '--prefix',
          flags.prefix,
          "expected up to 12 letters, digits, '.' or '-', ending in '-' (names must fit the kernel's 15 characters)",
        );
      const gossipPort = /^\d+$/.test(flags.gossipPort) ? Number(flags.gossipPort) : NaN;
      if (!(gossipPort >= 1 && gossipPort <= 65535))
        throw badFlagValue('--gossip-port', flags.gossipPort, 'expected a port from 1 to 65535');
      const dnsTtlSec = parseUint(flags.dnsTtl, '--dns-ttl', 86_400);
      const dataDir = resolveDataDir(flags.dataDir);
      // imported here: other commands need none of the agent's modules
      const { joinCluster, loadIdentity } = await import('../agent/join.ts');
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
      const advertiseAddr = flags.advertiseAddr ?? identityAddr(dataDir);
      if (!advertiseAddr) throw apiError('SHOAL_ERR_BAD_SPEC', '--advertise-addr is required (no earlier start recorded one)');
      const { Agent } = await import('../agent/agent.ts');
      const { LocalApi, agentSocketPath } = await import('../agent/local-api.ts');
      const agent = new Agent({
        identity,
        dataDir,
        advertiseAddr,
        ...(flags.manager ? { managerAddr: flags.manager } : {}),
        ...(flags.hostname ? { hostname: flags.hostname } : {}),
        prefix: flags.prefix,
        gossipPort,
        dnsTtlSec,
        logger,
      });
      const api = new LocalApi(agent, agentSocketPath(dataDir), logger);
      let fatal: Error | undefined;
      await agent.start();
      await api.listen();
      logger.info({ nodeId: identity.nodeId, prefix: flags.prefix, advertiseAddr, gossipPort }, 'agent running');
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          resolve();
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
        agent.onFatal = (err) => {
          fatal = err;
          stop();
        };
      });
      logger.info({ keepState: !!flags.keepState }, 'agent stopping');
      await api.close();
      await agent.stop({ keepState: !!flags.keepState });
      logger.info({}, 'agent stopped');
      if (fatal) throw fatal;
    });
}

/** The advertise address the agent last ran with (DATA-DIR/agent.json), or ''. */
function identityAddr(dataDir: string): string {
  try {
    return (JSON.parse(readFileSync(join(dataDir, 'agent.json'), 'utf8')) as { advertiseAddr?: string }).advertiseAddr ?? '';
  } catch {
    return '';
  }
}
