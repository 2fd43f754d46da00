/**
 * Two agents joined to one `shoal manager` over mTLS on loopback: both receive their
 * assignment streams (with each other as gossip peers, at the gossip ports they named);
 * when one agent's heartbeats stop (SIGSTOP), its node goes Down, its endpoints are marked
 * down with it and its tasks move to the other. Also: refused joins and certificate checks.
 *
 * The agents are scripted (test/support/scripted-agent.ts: the real session client, tasks
 * reported running instead of run): the manager is the subject here, and a real `shoal
 * agent` would program the kernel of the namespace it runs in, the root one for these
 * loopback tests. The join refusals do use `shoal agent`: it stops at the join, before
 * anything of its data plane starts.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import { connectManager, ManagerClient } from '../../../src/api/client.ts';
import { GrpcConnection } from '../../../src/api/grpc-connection.ts';
import { parseHost } from '../../../src/api/manager-target.ts';
import { freePort, spawnScriptedAgent, spawnShoal, startManagerProcess, tempDir, until } from '../../support/manager-harness.ts';

interface AssignmentFile {
  version: number;
  nodeId: string;
  networks: { name: string; vxlanId: number }[];
  tasks: { id: string; state: string; desiredState: string; addresses: string[] }[];
  services: { name: string; virtualIps: unknown[] }[];
  peers: { nodeId: string; addr: string; gossipPort: number }[];
  keyring?: { keys: number };
}

function assignment(dataDir: string): AssignmentFile | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'assignment.json'), 'utf8')) as AssignmentFile;
  } catch {
    return undefined;
  }
}

t.test('two agents over mTLS: assignment streams, heartbeat loss moves tasks', async (t) => {
  const root = tempDir(t, 'shoal-e2e-agents-');
  const port = await freePort();
  const m = await startManagerProcess(t, {
    dataDir: join(root, 'manager'),
    port,
    // 20 beats of silence before Down: a loaded 2-core machine can stall a process for
    // seconds; detection of the frozen agent below still takes only about 5 s
    extraArgs: ['--dispatcher-heartbeat', '250ms', '--node-down-after', '5s'],
  });
  const token = (await m.client.joinToken('worker')).token;
  const agentDirs = [join(root, 'a1'), join(root, 'a2')];
  const agents = agentDirs.map((dir, i) =>
    spawnScriptedAgent(t, [
      '--gossip-port',
      String(7950 + i),
      '--join-token',
      token,
      '--manager',
      `127.0.0.1:${port}`,
      '--advertise-addr',
      '127.0.0.1',
      '--data-dir',
      dir,
      '--hostname',
      `node${i + 1}`,
    ]),
  );
  const nodes = await until(
    async () => {
      const list = (await m.client.listNodes()).filter((n) => n.description.hostname.startsWith('node') && n.status.state === 'ready');
      return list.length === 2 ? list : undefined;
    },
    30_000,
    'both agents to join and become ready',
  );
  t.same(
    nodes.map((n) => n.spec.role),
    ['worker', 'worker'],
  );
  const idOf = (dir: string): string => (JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')) as { nodeId: string }).nodeId;
  const [id1, id2] = agentDirs.map(idOf) as [string, string];
  t.same(
    (await Promise.all([id1, id2].map((id) => m.client.inspectNode(id)))).map((n) => n.status.gossipPort),
    [7950, 7951],
    'each node stores the gossip port its agent named',
  );

  await m.client.createNetwork(defaultNetworkSpec('front'));
  const svc = await m.client.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 4 } },
    networks: [{ target: 'front', aliases: [] }],
  });
  for (const dir of agentDirs) {
    const a = await until(
      () => {
        const a = assignment(dir);
        return a && a.tasks.length === 2 && a.tasks.every((x) => x.state === 'running') ? a : undefined;
      },
      30_000,
      `the assignment in ${dir} to hold two running tasks`,
    );
    t.same(a.networks.map((n) => n.name).sort(), ['front', 'ingress']);
    t.same(
      a.services.map((s) => s.name),
      ['web'],
    );
    t.equal(a.keyring?.keys, 1);
    t.equal(a.peers.length, 1, 'the other node as a gossip peer');
    const other = dir === agentDirs[0] ? id2 : id1;
    t.same(
      a.peers.map((p) => [p.nodeId, p.addr, p.gossipPort]),
      [[other, '127.0.0.1', other === id1 ? 7950 : 7951]],
      'at its gossip port',
    );
    for (const task of a.tasks) t.match(task.addresses[0], /^10\.0\.0\.\d+\/24$/);
  }
  t.equal((await m.client.inspectService(svc.id)).serviceStatus.runningTasks, 4, 'states reported by the agents');

  // freeze agent 1: its heartbeats stop while its TCP connection stays open
  const front = await m.client.networkEndpoints('front');
  t.same([...new Set(front.endpoints.map((e) => e.state))], ['active'], 'every endpoint active while both nodes are up');
  t.equal(front.network.downEndpointCount, 0);
  agents[0]!.signal('SIGSTOP');
  await until(async () => (await m.client.inspectNode(id1)).status.state === 'down', 30_000, 'node 1 to be marked down');
  const downView = await m.client.networkEndpoints('front');
  const ofNode1 = downView.endpoints.filter((e) => e.nodeId === id1);
  t.equal(ofNode1.length, 2, "node 1's two task endpoints are still listed (its agent never said they stopped)");
  t.same(
    ofNode1.map((e) => e.state),
    ['down', 'down'],
    'and marked down with their node',
  );
  t.equal(downView.network.downEndpointCount, 2, 'counted on the network');
  t.ok(
    downView.endpoints.filter((e) => e.nodeId !== id1).every((e) => e.state === 'active'),
    'the VIP and node 2 endpoints stay active',
  );
  const live = await until(
    async () => {
      const tasks = await m.client.listTasks({ services: ['web'], desiredState: 'running' });
      return tasks.length === 4 && tasks.every((x) => x.nodeId === id2) ? tasks : undefined;
    },
    30_000,
    'all running tasks on node 2',
  );
  t.equal(live.length, 4);
  const a2 = await until(
    () => {
      const a = assignment(agentDirs[1]!);
      return a && a.tasks.filter((x) => x.desiredState === 'running' && x.state === 'running').length === 4 ? a : undefined;
    },
    30_000,
    "node 2's assignment to hold four running tasks",
  );
  t.equal(a2.peers.length, 0, 'the down node is no longer a peer');
  // a rotated gossip keyring reaches the agent
  await m.client.rotateGossipKey();
  await until(() => assignment(agentDirs[1]!)?.keyring?.keys === 2 || undefined, 30_000, 'the rotated keyring to reach node 2');
  t.equal((await m.client.inspectNode(id2)).status.state, 'ready');
  agents[0]!.signal('SIGKILL');
  await agents[0]!.exited();

  // a worker certificate may use its session but not the administration API
  const workerTls = {
    ca: readFileSync(join(agentDirs[1]!, 'certificates', 'ca.crt')),
    cert: readFileSync(join(agentDirs[1]!, 'certificates', 'node.crt')),
    key: readFileSync(join(agentDirs[1]!, 'certificates', 'node.key')),
  };
  const asWorker = new ManagerClient(new GrpcConnection(parseHost(`tcp://127.0.0.1:${port}`), workerTls, 10_000));
  t.teardown(() => asWorker.close());
  await t.rejects(asWorker.listNetworks(), { code: 'SHOAL_ERR_PERMISSION_DENIED' });
  const noCert = new ManagerClient(new GrpcConnection(parseHost(`tcp://127.0.0.1:${port}`), { ca: workerTls.ca }, 10_000));
  t.teardown(() => noCert.close());
  await t.rejects(noCert.listNetworks(), { code: 'SHOAL_ERR_UNAUTHENTICATED' });
  t.equal((await noCert.getRootCa()).digest, (await m.client.inspectSwarm()).caDigest, 'the root CA is public');
  // a manager certificate (the manager's own) drives the API remotely over mTLS
  const remote = connectManager({ host: `tcp://127.0.0.1:${port}`, tlsDir: join(root, 'manager', 'certificates'), env: {} });
  t.teardown(() => remote.close());
  t.same(
    (await remote.listServices()).map((s) => s.spec.name),
    ['web'],
  );

  // removing the dead node: its identity is refused from then on
  await m.client.removeNode(id1);
  const rejoin = spawnScriptedAgent(t, ['--data-dir', agentDirs[0]!, '--manager', `127.0.0.1:${port}`, '--advertise-addr', '127.0.0.1']);
  t.equal(await rejoin.exited(), 1);
  t.match(rejoin.output(), /SHOAL_ERR_UNAUTHENTICATED/);
});

t.test('scenario 1: joins with wrong, rotated-away or foreign tokens are refused with a clear error', async (t) => {
  const root = tempDir(t, 'shoal-e2e-join-');
  const port = await freePort();
  const m = await startManagerProcess(t, { dataDir: join(root, 'manager'), port });
  const old = (await m.client.joinToken('worker')).token;
  await m.client.joinToken('worker', true);
  const digest = (await m.client.inspectSwarm()).caDigest;
  const foreign = `SWMTKN-1-${'1'.repeat(50)}-${'a'.repeat(25)}`;
  const cases: [string, string, RegExp][] = [
    ['malformed', 'SWMTKN-1-garbage', /SHOAL_ERR_BAD_JOIN_TOKEN/],
    ['rotated away', old, /SHOAL_ERR_JOIN_TOKEN_REJECTED/],
    ['unknown secret', `SWMTKN-1-${digest}-${'z'.repeat(25)}`, /SHOAL_ERR_JOIN_TOKEN_REJECTED/],
    ['another cluster', foreign, /SHOAL_ERR_CA_MISMATCH/],
  ];
  for (const [what, token, expected] of cases) {
    const dir = join(root, what.replace(/\W/g, '-'));
    const a = spawnShoal(t, [
      'agent',
      '--join-token',
      token,
      '--manager',
      `127.0.0.1:${port}`,
      '--advertise-addr',
      '127.0.0.1',
      '--data-dir',
      dir,
    ]);
    t.equal(await a.exited(), 1, `${what}: exit status 1`);
    t.match(a.output(), expected, `${what}: clear error`);
    t.equal(a.output().trim().split('\n').length, 1, `${what}: one line`);
  }
  t.equal((await m.client.listNodes()).length, 1, 'no node was added');
});

t.test("the manager's own node: an agent started on the manager's data directory needs no token", async (t) => {
  const root = tempDir(t, 'shoal-e2e-self-');
  const port = await freePort();
  const dataDir = join(root, 'manager');
  const m = await startManagerProcess(t, { dataDir, port, extraArgs: ['--dispatcher-heartbeat', '250ms', '--node-down-after', '5s'] });
  const self = await m.client.inspectNode('self');
  t.equal(self.status.state, 'unknown', 'no agent yet: the node takes no tasks');
  const agent = spawnScriptedAgent(t, ['--data-dir', dataDir, '--advertise-addr', '127.0.0.1']);
  await until(async () => (await m.client.inspectNode('self')).status.state === 'ready', 30_000, "the manager's node to become ready");
  t.match(agent.output(), /resumes as manager/, "the manager's own identity, from its data directory");
  const svc = await m.client.createService({ ...defaultServiceSpec('solo'), mode: { replicated: { replicas: 2 } } });
  await until(
    async () => (await m.client.inspectService(svc.id)).serviceStatus.runningTasks === 2,
    30_000,
    'both tasks running on the manager node',
  );
  t.same(
    (await m.client.listTasks({ services: ['solo'] })).map((x) => x.nodeId),
    [self.id, self.id],
  );
});
