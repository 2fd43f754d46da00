/**
 * Dispatcher.WatchEndpoints over the manager's real mTLS listener, through the session
 * client's `watchEndpoints` (what the agent programs from when gossip lost an entry): a
 * snapshot of every endpoint of the network, then deltas as the store changes, removals by
 * ID; a network the node has nothing on is refused with SHOAL_ERR_NETWORK_NOT_ASSIGNED and
 * the client retries it with backoff until it may watch it, while the other networks'
 * streams go on; after the manager restarts, the client starts again from fresh snapshots. Agents are scripted (the real session client).
 */
import t from 'tap';
import { defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { Endpoint } from '../../../src/api/api-types.ts';
import type { AgentIdentity } from '../../../src/agent/join.ts';
import type { Logger } from '../../../src/common/logger.ts';
import { connectManager } from '../../../src/api/client.ts';
import { GrpcConnection } from '../../../src/api/grpc-connection.ts';
import { parseHost } from '../../../src/api/manager-target.ts';
import type { EndpointWatchEvent } from '../../../src/agent/session-client.ts';
import { fromGrpcError } from '../../../src/api/grpc-connection.ts';
import { startManager } from '../../../src/manager/manager.ts';
import { joinNode, tempDir, until } from '../../support/manager-harness.ts';
import { freePort } from '../../support/net.ts';
import { ScriptedAgent } from '../../support/scripted-agent.ts';

/** The endpoint lists a watcher holds, from its events. */
function follow(events: EndpointWatchEvent[]): Map<string, Map<string, Endpoint>> {
  const lists = new Map<string, Map<string, Endpoint>>();
  for (const e of events) {
    const list = e.snapshot ? new Map<string, Endpoint>() : (lists.get(e.networkId) ?? new Map<string, Endpoint>());
    for (const x of e.upserts) list.set(x.id, x);
    for (const id of e.removals) list.delete(id);
    lists.set(e.networkId, list);
  }
  return lists;
}

t.test('endpoint watch through the session client: snapshot, deltas, removal, refusal, a fresh snapshot after a reconnect', async (t) => {
  const dataDir = tempDir(t, 'shoal-watch-');
  const port = await freePort();
  const input = { dataDir, listenAddr: `127.0.0.1:${port}`, advertiseAddr: '127.0.0.1' };
  let m = await startManager(input, { noSweep: true });
  t.teardown(() => m.destroy());
  const client = connectManager({ dataDir, env: {}, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  const target = { client, managerAddr: m.managerAddr };
  // h1's log lines, to see its watch being refused and retried
  const logged: { fields: Record<string, unknown>; msg: string }[] = [];
  const recorder: Logger = {
    debug: () => {},
    info: (fields, msg = '') => void logged.push({ fields: fields as Record<string, unknown>, msg }),
    warn: (fields, msg = '') => void logged.push({ fields: fields as Record<string, unknown>, msg }),
    error: () => {},
    child: () => recorder,
  };
  const agents: ScriptedAgent[] = [];
  const identities: AgentIdentity[] = [];
  for (const h of ['h1', 'h2']) {
    const { identity, dataDir: dir } = await joinNode(t, target, h);
    const a = new ScriptedAgent({
      identity,
      hostname: h,
      dataDir: dir,
      reconnectMinMs: 50,
      reconnectMaxMs: 300,
      ...(h === 'h1' ? { logger: recorder } : {}),
    });
    t.teardown(() => a.close());
    a.start();
    agents.push(a);
    identities.push(identity);
  }
  const [h1, h2] = agents as [ScriptedAgent, ScriptedAgent];
  await until(async () => (await client.listNodes()).filter((n) => n.status.state === 'ready').length === 2, 30_000, 'both agents ready');
  const front = await client.createNetwork(defaultNetworkSpec('front'));
  const other = await client.createNetwork(defaultNetworkSpec('other'));
  await client.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 2 } },
    networks: [{ target: 'front', aliases: [] }],
  });
  await until(() => h1.session.state.networks.has(front.id) || undefined, 30_000, 'front in h1 assignment');

  const events: EndpointWatchEvent[] = [];
  const watch = h1.session.watchEndpoints([front.id], (e) => events.push(e));
  const truth = async (): Promise<string[]> => (await client.networkEndpoints('front')).endpoints.map((e) => `${e.id}:${e.state}`).sort();
  const held = (): string[] => [...(follow(events).get(front.id)?.values() ?? [])].map((e) => `${e.id}:${e.state}`).sort();
  await until(() => events.some((e) => e.snapshot) || undefined, 30_000, 'the snapshot');
  t.same(held(), await truth(), "the snapshot is the manager's list");
  t.ok(
    events[0]!.upserts.some((e) => e.nodeId === h2.nodeId) && events[0]!.upserts.some((e) => e.kind === 'vip'),
    'with the other node and the VIP',
  );

  await client.scaleService('web', 3);
  await until(async () => (held().length === 4 ? held() : undefined), 30_000, 'the new task endpoint by delta');
  t.same(held(), await truth());
  t.ok(
    events.slice(1).every((e) => !e.snapshot),
    'deltas, not new snapshots',
  );
  await client.scaleService('web', 2);
  await until(
    async () => (held().length === 3 ? true : undefined),
    30_000,
    'the removed task endpoint to go (after its agent reported it stopped)',
  );
  t.same(held(), await truth());
  t.ok(
    events.some((e) => e.removals.length > 0),
    'removed by ID',
  );

  // the raw call: a network the node has nothing on is refused with a stable code
  const identity = identities[0]!;
  const conn = new GrpcConnection(parseHost(`tcp://${m.managerAddr}`), {
    ca: Buffer.from(identity.caPem),
    cert: Buffer.from(identity.certPem),
    key: Buffer.from(identity.keyPem),
  });
  t.teardown(() => conn.close());
  const refused = await new Promise<unknown>((resolve) => {
    const s = conn.serverStream('Dispatcher', 'WatchEndpoints', { networkIds: [other.id] });
    s.on('data', () => resolve(new Error('data for a refused watch')));
    s.on('error', (err) => resolve(fromGrpcError(err as Parameters<typeof fromGrpcError>[0], 'manager')));
  });
  t.match(refused, { code: 'SHOAL_ERR_NETWORK_NOT_ASSIGNED' });

  // asking for it through the client: refused, retried with backoff, watched once assigned
  const before = events.length;
  watch.update([front.id, other.id]);
  await until(
    () =>
      logged.some((l) => l.msg === 'endpoint watch lost; reopening' && l.fields['code'] === 'SHOAL_ERR_NETWORK_NOT_ASSIGNED') || undefined,
    30_000,
    'the client to be refused and to plan a retry',
  );
  t.notOk(
    events.slice(before).some((e) => e.networkId === other.id),
    'nothing of a network it may not watch',
  );
  await client.createService({ ...defaultServiceSpec('api'), mode: { global: {} }, networks: [{ target: 'other', aliases: [] }] });
  await until(() => events.slice(before).some((e) => e.networkId === other.id && e.snapshot) || undefined, 30_000, 'the retry to succeed');
  t.notOk(
    events.slice(before).some((e) => e.networkId === front.id && e.snapshot),
    "front's own stream went on meanwhile: no new snapshot of it",
  );
  t.same(held(), await truth(), 'and it is still right');

  // the manager restarts: a fresh snapshot after the reconnect, then deltas again
  m.destroy();
  await until(() => !h1.session.connected || undefined, 30_000, 'h1 to notice');
  const cut = events.length;
  m = await startManager(input, { noSweep: true });
  await until(
    () => events.slice(cut).some((e) => e.networkId === front.id && e.snapshot) || undefined,
    30_000,
    'a snapshot after the reconnect',
  );
  await client.scaleService('web', 4);
  await until(async () => (held().length === 5 ? true : undefined), 30_000, 'deltas after the reconnect');
  t.same(held(), await truth());

  watch.close();
  const closed = events.length;
  await client.scaleService('web', 1);
  await until(async () => (await truth()).length === 2 || undefined, 30_000, 'the scale down');
  t.equal(events.length, closed, 'a closed watch gets nothing');
});
