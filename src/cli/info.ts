/**
 * `shoal info`: the swarm part of `docker info`, for a shoal cluster. What the manager
 * knows (cluster ID, managers and nodes by state, networks, services, tasks, the default
 * address pool, the VXLAN port) and, when this machine runs an agent (DATA-DIR/agent.sock),
 * what that node's data plane holds (networks programmed, sandboxes, load-balanced
 * services, the resolver). An agent that does not answer is reported in the output, not
 * as a failure: `info` is what an operator runs to find out what works.
 *
 * `--format json` prints the whole view; a Go template sees Docker's names where Docker
 * has them (`{{.Swarm.Cluster.ID}}`, `{{.Swarm.Nodes}}`, `{{.ClientInfo.Version}}`).
 */
import type { Command } from 'commander';
import { DEFAULT_GOSSIP_PORT } from '../api/api-defaults.ts';
import type { Network, Node, Service, Swarm, Task } from '../api/api-types.ts';
import type { NodeInfo } from '../agent/node-info.ts';
import type { GossipDrops } from '../gossip/index.ts';
import { SHOAL_VERSION } from '../common/version.ts';
import type { CliContext } from './client-options.ts';
import { apiGroupOptions, clientFlags, processContext, runCommand } from './client-options.ts';
import { executeTemplate } from './format/template.ts';
import type { LocalAgentProbe } from './local-agent.ts';
import { probeLocalAgent } from './local-agent.ts';
import { parseInspectFormat } from './parse/format-option.ts';

/** What `info` shows; its field names are what --format sees. */
export interface InfoView {
  ClientInfo: { Version: string };
  /** The manager this command reached (as -H, the environment or the context named it). */
  Manager: string;
  Swarm: {
    LocalNodeState: 'active';
    /** This machine's node ('' without a local agent). */
    NodeID: string;
    NodeAddr: string;
    Cluster: {
      ID: string;
      CreatedAt: string;
      DefaultAddrPool: string[];
      SubnetSize: number;
      /** The VXLAN UDP port (Docker's data path port). */
      DataPathPort: number;
    };
    ManagerAddr: string;
    Managers: number;
    Nodes: number;
    NodesReady: number;
    NodesDown: number;
  };
  Networks: number;
  Services: number;
  Tasks: number;
  TasksRunning: number;
  /** The gossip port of this machine's node (the default when unknown). */
  GossipPort: number;
  /** This machine's agent: its socket, its data-plane summary or why it gave none. */
  Agent: { Socket: string; Error: string; DataPlane: NodeInfo | null };
}

export interface InfoInputs {
  swarm: Swarm;
  nodes: readonly Node[];
  networks: readonly Network[];
  services: readonly Service[];
  tasks: readonly Task[];
  manager: string;
  agent: { socket: string; info: NodeInfo | undefined; why: string };
}

export function infoView(i: InfoInputs): InfoView {
  const local = i.agent.info;
  const self = local ? i.nodes.find((n) => n.id === local.nodeId) : undefined;
  return {
    ClientInfo: { Version: SHOAL_VERSION },
    Manager: i.manager,
    Swarm: {
      LocalNodeState: 'active',
      NodeID: local?.nodeId ?? '',
      NodeAddr: local?.advertiseAddr ?? self?.status.addr ?? '',
      Cluster: {
        ID: i.swarm.id,
        CreatedAt: i.swarm.createdAt,
        DefaultAddrPool: [...i.swarm.defaultAddrPool],
        SubnetSize: i.swarm.subnetSize,
        DataPathPort: i.swarm.dataPathPort,
      },
      ManagerAddr: i.swarm.managerAddr,
      Managers: i.nodes.filter((n) => n.spec.role === 'manager').length,
      Nodes: i.nodes.length,
      NodesReady: i.nodes.filter((n) => n.status.state === 'ready').length,
      NodesDown: i.nodes.filter((n) => n.status.state === 'down').length,
    },
    Networks: i.networks.length,
    Services: i.services.length,
    Tasks: i.tasks.length,
    TasksRunning: i.tasks.filter((t) => t.status.state === 'running').length,
    GossipPort: local?.gossipPort || self?.status.gossipPort || DEFAULT_GOSSIP_PORT,
    Agent: { Socket: i.agent.socket, Error: local ? '' : i.agent.why, DataPlane: local ?? null },
  };
}

/** The text `info` prints by default, in `docker info`'s layout. */
export function infoText(v: InfoView): string {
  const lines: string[] = [];
  const add = (indent: number, label: string, value: string | number): void =>
    void lines.push(`${' '.repeat(indent)}${label}: ${value}`.trimEnd());
  const s = v.Swarm;
  lines.push('Client:');
  add(1, 'Version', v.ClientInfo.Version);
  lines.push('');
  lines.push('Server:');
  add(1, 'Manager', v.Manager);
  add(1, 'Swarm', s.LocalNodeState);
  add(2, 'NodeID', s.NodeID || '(unknown: no agent on this machine)');
  add(2, 'ClusterID', s.Cluster.ID);
  add(2, 'Managers', s.Managers);
  add(2, 'Nodes', `${s.Nodes} (ready ${s.NodesReady}, down ${s.NodesDown})`);
  add(2, 'Networks', v.Networks);
  add(2, 'Services', v.Services);
  add(2, 'Tasks', `${v.Tasks} (running ${v.TasksRunning})`);
  add(2, 'Default Address Pool', s.Cluster.DefaultAddrPool.join(' '));
  add(2, 'SubnetSize', s.Cluster.SubnetSize);
  add(2, 'Data Path Port', s.Cluster.DataPathPort);
  add(2, 'Gossip Port', v.GossipPort);
  if (s.NodeAddr) add(2, 'Node Address', s.NodeAddr);
  lines.push('  Manager Addresses:');
  lines.push(`   ${s.ManagerAddr}`);
  const d = v.Agent.DataPlane;
  lines.push(' Data Plane (this node):');
  if (!d) {
    add(2, 'Agent', `not reachable on ${v.Agent.Socket}: ${v.Agent.Error}`);
  } else {
    add(2, 'Agent', d.connected ? 'connected to the manager' : 'not connected to the manager');
    add(2, 'Networks programmed', d.networks);
    add(2, 'Sandboxes', d.sandboxes);
    add(2, 'Load-balanced services', d.loadBalancedServices);
    add(
      2,
      'Resolver',
      d.resolver.sandboxes > 0 ? `answering in ${d.resolver.sandboxes} sandbox(es), ${d.resolver.queries} queries` : 'no sandbox served',
    );
    if (d.gossipDrops) add(2, 'Gossip dropped', gossipDropsText(d.gossipDrops));
  }
  return `${lines.join('\n')}\n`;
}

/** `0`, or the total and its non-zero reasons: `5 (notSealed 2, replayed 3)`. */
function gossipDropsText(d: GossipDrops): string {
  const parts = Object.entries(d)
    .filter(([k, v]) => k !== 'total' && v > 0)
    .map(([k, v]) => `${k} ${v}`);
  return parts.length === 0 ? '0' : `${d.total} (${parts.join(', ')})`;
}

/** The manager the handle talks to, as its connection names it. */
function managerDisplay(api: unknown): string {
  const conn = (api as { connection?: { target?: { display?: string } } }).connection;
  return conn?.target?.display ?? '';
}

export function registerInfoCommand(program: Command, ctx: CliContext = processContext(), probe: LocalAgentProbe = probeLocalAgent): void {
  const cmd = program
    .command('info')
    .description("Display cluster-wide information and this node's data plane")
    .option('-f, --format <format>', 'format output: json or a Go template (e.g. {{.Swarm.Cluster.ID}})');
  apiGroupOptions(cmd);
  cmd.action(async (flags: { format?: string }, self: Command) => {
    await runCommand(ctx, self, async (api) => {
      const format = parseInspectFormat(flags.format);
      const [swarm, nodes, networks, services, tasks, agent] = await Promise.all([
        api().inspectSwarm(),
        api().listNodes(),
        api().listNetworks(),
        api().listServices(),
        api().listTasks(),
        probe(clientFlags(self).dataDir, ctx.env),
      ]);
      const view = infoView({ swarm, nodes, networks, services, tasks, manager: managerDisplay(api()), agent });
      if (format.kind === 'json') ctx.out(`${JSON.stringify(view)}\n`);
      else if (format.kind === 'template') ctx.out(`${executeTemplate(format.template, view)}\n`);
      else ctx.out(infoText(view));
    });
  });
}
