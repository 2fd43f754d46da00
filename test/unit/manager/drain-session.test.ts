// The drain handshake through the session client over the manager's real mTLS listener on
// loopback: a scripted agent whose endpoint watch shows a draining endpoint acknowledges it
// (AgentSession.reportDrained), the manager marks the task drained without waiting for its
// timeout, and the agent then stops the task; an acknowledgement made while the manager is
// away is sent when the session reconnects, and completes the fresh wait of the restarted
// manager. "Without the timeout" is checked by the manager's log: a drain that ran out says
// so before the task is drained.
import t from 'tap';
import { defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { EndpointWatchEvent } from '../../../src/agent/session-client.ts';
import { connectManager } from '../../../src/api/client.ts';
import { startManager } from '../../../src/manager/manager.ts';
import type { RunningManager } from '../../../src/manager/manager.ts';
import { joinNode, tempDir, until } from '../../support/manager-harness.ts';
import { freePort } from '../../support/net.ts';
import { ScriptedAgent } from '../../support/scripted-agent.ts';
import { recordingLogger } from '../../support/logger.ts';

t.test('the session client acknowledges drains, and again after the manager restarts', async (t) => {
  const dataDir = tempDir(t, 'shoal-drain-');
  const port = await freePort();
  const input = { dataDir, listenAddr: `127.0.0.1:${port}`, advertiseAddr: '127.0.0.1' };
  const log1 = recordingLogger();
  let m: RunningManager = await startManager(input, { noSweep: true, logger: log1.logger });
  t.teardown(() => m.destroy());
  const client = connectManager({ dataDir, env: {}, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  const { identity, dataDir: agentDir } = await joinNode(t, { client, managerAddr: m.managerAddr }, 'h1');
  const h1 = new ScriptedAgent({ identity, hostname: 'h1', dataDir: agentDir, reconnectMinMs: 50, reconnectMaxMs: 300 });
  t.teardown(() => h1.close());
  h1.start();
  await until(async () => (await client.inspectNode(identity.nodeId)).status.state === 'ready', 30_000, 'h1 ready');

  const front = await client.createNetwork(defaultNetworkSpec('front'));
  await client.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 2 } },
    networks: [{ target: 'front', aliases: [] }],
  });
  await until(
    async () => (await client.listTasks({ services: ['web'] })).filter((x) => x.status.state === 'running').length === 2,
    30_000,
    'both tasks running on h1',
  );
  await until(() => h1.session.state.networks.has(front.id) || undefined, 30_000, 'front in the assignment');
  const events: EndpointWatchEvent[] = [];
  const watch = h1.session.watchEndpoints([front.id], (e) => events.push(e));
  t.teardown(() => watch.close());
  await until(() => events.some((e) => e.snapshot) || undefined, 30_000, 'the watch snapshot');

  // live: the watch shows the endpoint draining, the agent acknowledges, the manager drains, the agent stops it
  await client.scaleService('web', 1);
  const [first] = await client.listTasks({ services: ['web'], desiredState: 'shutdown' });
  const ep1 = first!.networks[0]!.endpointId;
  await until(
    async () => (await client.listTasks({ ids: [first!.id] }))[0]?.status.state === 'shutdown' || undefined,
    30_000,
    'the scaled-down task to stop',
  );
  t.ok(h1.session.acknowledged.includes(ep1), 'acknowledged through reportDrained');
  t.same(
    log1.warnings.filter((w) => /did not acknowledge/.test(w.msg)).map((w) => w.msg),
    [],
    'drained by the acknowledgement, not the timeout',
  );

  // the manager goes away before the agent acknowledges the next drain
  h1.session.ackDrains = false;
  await client.scaleService('web', 0);
  const [second] = (await client.listTasks({ services: ['web'], desiredState: 'shutdown' })).filter((x) => x.id !== first!.id);
  const ep2 = second!.networks[0]!.endpointId;
  await until(
    () => events.some((e) => e.upserts.some((x) => x.id === ep2 && x.state === 'draining')) || undefined,
    30_000,
    'h1 to see the second endpoint draining',
  );
  t.equal((await client.listTasks({ ids: [second!.id] }))[0]?.drained, false, 'not drained: h1 watches and has not answered');
  m.destroy();
  await until(() => !h1.session.connected || undefined, 30_000, 'h1 to notice the manager is gone');
  h1.session.reportDrained([ep2]);
  h1.session.reportDrained([ep2]);

  const log2 = recordingLogger();
  m = await startManager(input, { noSweep: true, logger: log2.logger });
  await until(
    async () => (await client.listTasks({ ids: [second!.id] }))[0]?.status.state === 'shutdown' || undefined,
    30_000,
    'the restarted manager to drain the task (from the resent acknowledgement) and h1 to stop it',
  );
  t.same(
    log2.warnings.filter((w) => /did not acknowledge/.test(w.msg)).map((w) => w.msg),
    [],
    'the resent acknowledgement completed the fresh wait',
  );
  t.same(
    (await client.networkEndpoints('front')).endpoints.filter((e) => e.kind === 'task'),
    [],
    'both task endpoints released',
  );
});
