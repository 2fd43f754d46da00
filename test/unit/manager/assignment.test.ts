import t from 'tap';
import { defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import { computeAssignment, deltaOf, snapshotOf, versionsOf } from '../../../src/manager/assignment.ts';
import { createNodeCsr } from '../../../src/api/csr.ts';
import { applySessionMessage, emptyState } from '../../../src/agent/session-client.ts';
import type { SessionMessage } from '../../../src/api/api-types.ts';
import { inProcessManager } from '../../support/manager-harness.ts';

t.test('a node assignment holds what the node needs, and deltas rebuild the same state as a snapshot', async (t) => {
  const { control, store } = await inProcessManager(t);
  const swarm = await control.inspectSwarm();
  const ids: string[] = [];
  for (const h of ['n1', 'n2']) {
    const r = await control.issueNodeCertificate({
      token: swarm.joinTokens.worker,
      csrPem: createNodeCsr().csrPem,
      hostname: h,
      advertiseAddr: '192.0.2.50',
    });
    await control.nodeReady(r.nodeId, { hostname: h, platformOs: '', platformArch: '', version: '', addr: '192.0.2.50' });
    ids.push(r.nodeId);
  }
  const [n1] = ids as [string, string];
  const view = (): ReturnType<typeof computeAssignment> => store.view((tx) => computeAssignment(tx, n1));
  const first = view();
  const keys = [...first.keys()].map((k) => k.split('/')[0]).sort();
  t.same(
    keys,
    ['ca', 'endpoint', 'keyring', 'network', 'node', 'peer'],
    'node, ingress, its sandbox address, keyring, trusted roots, the other node',
  );

  let state = applySessionMessage(emptyState(), message('snapshot', 0, snapshotOf(first)));
  let sent = versionsOf(first);
  const steps: (() => Promise<unknown>)[] = [
    () => control.createNetwork(defaultNetworkSpec('front')),
    () => control.createNetwork(defaultNetworkSpec('unrelated')),
    () =>
      control.createService({
        ...defaultServiceSpec('web'),
        mode: { replicated: { replicas: 4 } },
        networks: [{ target: 'front', aliases: [] }],
      }),
    () =>
      control.createService({
        ...defaultServiceSpec('other'),
        mode: { replicated: { replicas: 0 } },
        networks: [{ target: 'front', aliases: [] }],
      }),
    () => control.scaleService('web', 1),
    () => control.rotateGossipKey(),
    () => control.removeService('other'),
  ];
  for (const [i, step] of steps.entries()) {
    await step();
    const next = view();
    const d = deltaOf(sent, next);
    if (d) state = applySessionMessage(state, { ...message('delta', 0, d.updates), removals: d.removals });
    sent = versionsOf(next);
    const fresh = applySessionMessage(emptyState(), message('snapshot', 0, snapshotOf(next)));
    t.same(summary(state), summary(fresh), `step ${i + 1}: delta-built state equals a fresh snapshot`);
  }
  t.same(
    [...state.networks.values()].map((n) => n.spec.name).sort(),
    ['front', 'ingress'],
    'networks of its tasks plus ingress, not unrelated ones',
  );
  t.same(
    [...state.services.values()].map((s) => s.spec.name),
    ['web'],
  );
  t.equal(state.keyring?.keys.length, 2);
  t.same(deltaOf(sent, view()), undefined, 'nothing changed: no delta');
});

function message(kind: 'snapshot' | 'delta', from: number, updates: SessionMessage['updates']): SessionMessage {
  return {
    sessionId: 's',
    nodeId: 'n',
    kind,
    version: 1,
    fromVersion: from,
    updates,
    removals: { networkIds: [], taskIds: [], serviceIds: [], endpointIds: [], containerIds: [], peerIds: [] },
    requests: [],
    heartbeatPeriodMs: 1000,
  };
}

function summary(s: ReturnType<typeof emptyState>): unknown {
  const ids = (m: Map<string, { version: number }>): string[] => [...m.entries()].map(([k, v]) => `${k}@${v.version}`).sort();
  return {
    node: s.node?.version,
    networks: ids(s.networks),
    tasks: ids(s.tasks),
    services: ids(s.services),
    endpoints: ids(s.endpoints),
    containers: ids(s.containers),
    peers: [...s.peers.keys()].sort(),
    keyring: s.keyring?.version,
  };
}
