/**
 * The endpoint view: the union of the manager's list and gossip; a node gossip declares
 * dead keeps its endpoints while the manager lists them (its flows keep their path while
 * only its agent is away) and loses them without the manager's list; the manager's "down"
 * mark removes them; disagreements are counted.
 */
import t from 'tap';
import type { Endpoint, Peer } from '../../../src/api/api-types.ts';
import { type GossipEndpoint, remoteEndpoints } from '../../../src/agent/endpoint-view.ts';
import { endpointRecord } from '../../../src/agent/gossip-endpoints.ts';
import { macForAddress } from '../../../src/common/mac.ts';
import { taskEndpoint } from '../../support/endpoints.ts';

/** A task endpoint whose MAC is 02:42 and its address's bytes, as the manager allocates it. */
function ep(id: string, node: string, ip: string, extra: Partial<Endpoint> = {}): Endpoint {
  return taskEndpoint(id, node, ip, { mac: macForAddress(ip), ...extra });
}

/** The record the owning agent publishes for an endpoint (the agent's own builder). */
function gossipOf(e: Endpoint, vtep: string): GossipEndpoint {
  return { owner: e.nodeId, record: endpointRecord(e, vtep, '') };
}

const peers = new Map<string, Peer>([
  ['B', { nodeId: 'B', addr: '192.0.2.12', hostname: 'h2', role: 'worker' } as Peer],
  ['C', { nodeId: 'C', addr: '192.0.2.13', hostname: 'h3', role: 'worker' } as Peer],
]);

const a1 = ep('a1', 'A', '10.0.0.2');
const b1 = ep('b1', 'B', '10.0.0.3');
const c1 = ep('c1', 'C', '10.0.0.4');

t.test('both sources agree: every remote endpoint once, own endpoints left out', async (t) => {
  const manager = new Map([a1, b1, c1].map((e) => [e.id, e]));
  const gossip = new Map([
    ['b1', gossipOf(b1, '192.0.2.12')],
    ['c1', gossipOf(c1, '192.0.2.13')],
  ]);
  const v = remoteEndpoints({ networkId: 'n1', selfNodeId: 'A', manager, gossip, deadNodes: new Set(), peers });
  t.same(
    v.remotes.map((r) => `${r.ip} ${r.mac} ${r.vtep}`),
    ['10.0.0.3 02:42:0a:00:00:03 192.0.2.12', '10.0.0.4 02:42:0a:00:00:04 192.0.2.13'],
  );
  t.same(v.stats, { managerOnly: 0, gossipOnly: 0, conflicting: 0, deadNode: 0, markedDown: 0 });
});

t.test('gossip lost an entry: the manager fills it, with the peer address as VTEP', async (t) => {
  const manager = new Map([b1, c1].map((e) => [e.id, e]));
  const gossip = new Map([['b1', gossipOf(b1, '192.0.2.12')]]);
  const v = remoteEndpoints({ networkId: 'n1', selfNodeId: 'A', manager, gossip, deadNodes: new Set(), peers });
  t.same(
    v.remotes.map((r) => `${r.ip} ${r.vtep}`),
    ['10.0.0.3 192.0.2.12', '10.0.0.4 192.0.2.13'],
  );
  t.equal(v.stats.managerOnly, 1);
});

t.test('a node gossip declares dead keeps its endpoints while the manager lists them, and loses them without', async (t) => {
  const manager = new Map([b1, c1].map((e) => [e.id, e]));
  const gossip = new Map([
    ['b1', gossipOf(b1, '192.0.2.12')],
    ['c1', gossipOf(c1, '192.0.2.13')],
  ]);
  const v = remoteEndpoints({ networkId: 'n1', selfNodeId: 'A', manager, gossip, deadNodes: new Set(['C']), peers });
  t.same(
    v.remotes.map((r) => r.ip),
    [b1.addr.split('/')[0], c1.addr.split('/')[0]].sort(),
    'both programmed: the manager still lists them',
  );
  t.equal(v.stats.deadNode, 1, 'counted');
  const alone = remoteEndpoints({ networkId: 'n1', selfNodeId: 'A', manager: undefined, gossip, deadNodes: new Set(['C']), peers });
  t.same(
    alone.remotes.map((r) => r.ip),
    [b1.addr.split('/')[0]],
    "gossip alone: the dead node's entry is left out",
  );
});

t.test('endpoints the manager marks down are not programmed, even if gossip has them', async (t) => {
  const down = ep('c1', 'C', '10.0.0.4', { state: 'down' });
  const manager = new Map([b1, down].map((e) => [e.id, e]));
  const gossip = new Map([['c1', gossipOf(c1, '192.0.2.13')]]);
  const v = remoteEndpoints({ networkId: 'n1', selfNodeId: 'A', manager, gossip, deadNodes: new Set(), peers });
  t.same(
    v.remotes.map((r) => r.ip),
    ['10.0.0.3'],
  );
  t.equal(v.stats.markedDown, 1);
});

t.test('before the manager snapshot, gossip alone is programmed; after it, gossip-only entries are counted and left out', async (t) => {
  const gossip = new Map([['b1', gossipOf(b1, '192.0.2.12')]]);
  const before = remoteEndpoints({ networkId: 'n1', selfNodeId: 'A', manager: undefined, gossip, deadNodes: new Set(), peers });
  t.same(
    before.remotes.map((r) => r.ip),
    ['10.0.0.3'],
  );
  t.equal(before.stats.gossipOnly, 0, 'no manager list yet: nothing to disagree with');
  const after = remoteEndpoints({ networkId: 'n1', selfNodeId: 'A', manager: new Map(), gossip, deadNodes: new Set(), peers });
  t.equal(after.stats.gossipOnly, 1);
  t.equal(after.remotes.length, 0, 'the manager does not list it: a stale entry, not programmed');
});

t.test('a conflicting record: the manager address wins and the conflict is counted', async (t) => {
  const stale = gossipOf(ep('b1', 'B', '10.0.0.9'), '192.0.2.12');
  const v = remoteEndpoints({
    networkId: 'n1',
    selfNodeId: 'A',
    manager: new Map([[b1.id, b1]]),
    gossip: new Map([['b1', stale]]),
    deadNodes: new Set(),
    peers,
  });
  t.same(
    v.remotes.map((r) => r.ip),
    ['10.0.0.3'],
  );
  t.equal(v.stats.conflicting, 1);
});

t.test('VIPs and endpoints without a known VTEP are not programmed', async (t) => {
  const vip = ep('v1', '', '10.0.0.10', { kind: 'vip', mac: '' });
  const stranger = ep('d1', 'D', '10.0.0.5');
  const v = remoteEndpoints({
    networkId: 'n1',
    selfNodeId: 'A',
    manager: new Map([vip, stranger].map((e) => [e.id, e])),
    gossip: new Map(),
    deadNodes: new Set(),
    peers,
  });
  t.same(v.remotes, []);
});
