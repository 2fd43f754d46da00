/**
 * `shoal info` prints the gossip input this node dropped: 0, or the total with its
 * non-zero reasons; nothing when the agent reports none (gossip not started yet).
 */
import t from 'tap';
import type { NodeInfo } from '../../../src/agent/node-info.ts';
import type { Swarm } from '../../../src/api/api-types.ts';
import { infoText, infoView } from '../../../src/cli/info.ts';

const swarm = {
  id: 'clusterxxxxxxxxxxxxxxxxxx',
  createdAt: '2026-01-01T00:00:00Z',
  defaultAddrPool: ['10.0.0.0/8'],
  subnetSize: 24,
  dataPathPort: 4789,
  managerAddr: '192.0.2.11:2377',
} as unknown as Swarm;

const base: NodeInfo = {
  nodeId: 'node1xxxxxxxxxxxxxxxxxxxx',
  prefix: 'shoal-',
  advertiseAddr: '192.0.2.11',
  gossipPort: 7946,
  connected: true,
  networks: 1,
  sandboxes: 1,
  loadBalancedServices: 0,
  lbTables: 1,
  resolver: { sandboxes: 1, queries: 0 },
  workloads: { running: 1, total: 1 },
};

const zero = { notSealed: 0, wrongKind: 0, unknownKey: 0, badAuth: 0, stale: 0, replayed: 0, malformed: 0, total: 0 };

function lines(info: NodeInfo): string[] {
  const v = infoView({
    swarm,
    nodes: [],
    networks: [],
    services: [],
    tasks: [],
    manager: 'unix:///d/manager.sock',
    agent: { socket: '/d/agent.sock', info, why: '' },
  });
  return infoText(v).split('\n');
}

t.test('gossip drops in shoal info', async (t) => {
  t.ok(lines({ ...base, gossipDrops: zero }).includes('  Gossip dropped: 0'), 'none dropped');
  t.ok(
    lines({ ...base, gossipDrops: { ...zero, unknownKey: 1, replayed: 2, total: 3 } }).includes(
      '  Gossip dropped: 3 (unknownKey 1, replayed 2)',
    ),
    'the total and its reasons',
  );
  t.notOk(
    lines(base).some((l) => l.includes('Gossip dropped')),
    'no line before gossip started',
  );
});
