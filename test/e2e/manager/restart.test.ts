/**
 * The manager as a real process with its SQLite file: API calls, SIGKILL between steps and
 * restarts. After each restart every allocation must be identical, and allocations made
 * after it must not collide with the ones made before.
 */
import t from 'tap';
import type { Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { defaultContainerSpec, defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { ManagerClient } from '../../../src/api/client.ts';
import { freePort, REPO_ROOT, SHOAL_BIN, startManagerProcess, tempDir } from '../../support/manager-harness.ts';
import type { ManagerProcess } from '../../support/manager-harness.ts';

async function allocations(c: ManagerClient): Promise<unknown> {
  const networks = (await c.listNetworks()).map((n) => ({ id: n.id, name: n.spec.name, vxlanId: n.vxlanId, ipam: n.ipam }));
  const services = (await c.listServices()).map((s) => ({
    id: s.id,
    version: s.version,
    ports: s.endpoint.ports,
    vips: s.endpoint.virtualIps,
  }));
  const tasks = (await c.listTasks()).map((x) => ({ id: x.id, slot: x.slot, desired: x.desiredState, networks: x.networks }));
  const containers = (await c.listContainers()).map((x) => ({ id: x.id, networks: x.networks }));
  const endpoints: Record<string, unknown> = {};
  for (const n of networks) endpoints[n.name] = (await c.networkEndpoints(n.id)).endpoints.map((e) => [e.id, e.kind, e.addr, e.mac]);
  return { networks, services, tasks, containers, endpoints };
}

async function assertUnique(t: Test, c: ManagerClient): Promise<void> {
  const nets = await c.listNetworks();
  t.equal(new Set(nets.map((n) => n.vxlanId)).size, nets.length, 'VXLAN IDs unique');
  t.equal(new Set(nets.map((n) => n.spec.name)).size, nets.length, 'network names unique');
  const subnets = nets.flatMap((n) => n.ipam.map((x) => x.subnet));
  t.equal(new Set(subnets).size, subnets.length, 'subnets unique');
  for (const n of nets) {
    const addrs = (await c.networkEndpoints(n.id)).endpoints.map((e) => e.addr);
    t.equal(new Set(addrs).size, addrs.length, `addresses on ${n.spec.name} unique`);
  }
  const ports = (await c.listServices()).flatMap((s) =>
    s.endpoint.ports.filter((p) => p.publishMode === 'ingress').map((p) => `${p.protocol}/${p.publishedPort}`),
  );
  t.equal(new Set(ports).size, ports.length, 'ingress ports unique');
}

function dumpFile(dataDir: string): string {
  const r = spawnSync(process.execPath, [SHOAL_BIN, 'manager', 'dump', '--data-dir', dataDir], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dump failed: ${r.stderr}`);
  return r.stdout;
}

async function kill9(m: ManagerProcess): Promise<void> {
  m.signal('SIGKILL');
  await m.exited();
}

t.test('allocations survive SIGKILL and restart, identical and without duplicates', async (t) => {
  const dataDir = tempDir(t, 'shoal-e2e-restart-');
  const port = await freePort();
  let m = await startManagerProcess(t, { dataDir, port });
  const c1 = m.client;
  await c1.createNetwork(defaultNetworkSpec('front'));
  await c1.createNetwork({
    ...defaultNetworkSpec('back'),
    attachable: true,
    subnets: [{ subnet: '10.20.0.0/16', gateway: '10.20.0.254', auxAddresses: {} }],
  });
  await c1.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 3 } },
    networks: [
      { target: 'front', aliases: ['www'] },
      { target: 'back', aliases: [] },
    ],
    endpointSpec: { mode: 'vip', ports: [{ name: '', protocol: 'tcp', targetPort: 80, publishMode: 'ingress' }] },
  });
  await c1.createService({
    ...defaultServiceSpec('dns'),
    mode: { global: {} },
    endpointSpec: { mode: 'dnsrr', ports: [] },
    networks: [{ target: 'back', aliases: [] }],
  });
  await c1.runContainer({ ...defaultContainerSpec('box'), networks: [{ target: 'back', aliases: ['b'] }] });
  const before = await allocations(c1);
  const dumpBefore = await c1.dump();
  t.equal(dumpFile(dataDir), dumpBefore, 'the file dump equals the API dump');

  await kill9(m);
  m = await startManagerProcess(t, { dataDir, port });
  t.same(await allocations(m.client), before, 'every allocation identical after SIGKILL + restart');
  t.equal(await m.client.dump(), dumpBefore, 'the store dump is byte-identical');

  // more steps, each followed by SIGKILL and restart
  const steps: ((c: ManagerClient) => Promise<unknown>)[] = [
    (c) => c.createNetwork(defaultNetworkSpec('third')),
    (c) => c.scaleService('web', 5),
    async (c) => {
      const s = await c.inspectService('web');
      return c.updateService(
        'web',
        {
          ...s.spec,
          endpointSpec: {
            mode: 'vip',
            ports: [...s.spec.endpointSpec.ports, { name: '', protocol: 'udp', targetPort: 53, publishMode: 'ingress' }],
          },
        },
        s.version,
      );
    },
    (c) => c.removeService('dns'),
    (c) =>
      c.createService({
        ...defaultServiceSpec('api'),
        networks: [{ target: 'third', aliases: [] }],
        endpointSpec: { mode: 'vip', ports: [{ name: '', protocol: 'tcp', targetPort: 8080, publishMode: 'ingress' }] },
      }),
    (c) => c.removeContainer('box'),
  ];
  for (const [i, step] of steps.entries()) {
    await step(m.client);
    const snap = await allocations(m.client);
    const dump = await m.client.dump();
    await kill9(m);
    m = await startManagerProcess(t, { dataDir, port });
    t.same(await allocations(m.client), snap, `step ${i + 1}: allocations identical after restart`);
    t.equal(await m.client.dump(), dump, `step ${i + 1}: dump identical after restart`);
    await assertUnique(t, m.client);
  }
  const api = await m.client.inspectService('api');
  t.same(
    api.endpoint.ports.map((p) => p.publishedPort),
    [30001],
    "the next free tcp port after web's 30000 (web's udp port is another namespace)",
  );
  t.same(
    (await m.client.inspectService('web')).endpoint.ports.map((p) => `${p.publishedPort}/${p.protocol}`),
    ['30000/tcp', '30000/udp'],
  );
});

t.test('SIGKILL in the middle of a burst of writes loses no acknowledged write and leaves a consistent store', async (t) => {
  const dataDir = tempDir(t, 'shoal-e2e-burst-');
  const port = await freePort();
  let m = await startManagerProcess(t, { dataDir, port });
  const acknowledged: string[] = [];
  let stop = false;
  // four writers creating networks one after another until the manager dies under them
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      try {
        acknowledged.push((await m.client.createNetwork(defaultNetworkSpec(`w${w}-${i}`))).spec.name);
      } catch {
        return;
      }
    }
  });
  const deadline = Date.now() + 30_000;
  while (acknowledged.length < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  await kill9(m);
  stop = true;
  await Promise.all(writers);
  t.ok(acknowledged.length >= 100, `${acknowledged.length} writes acknowledged before the kill`);
  m = await startManagerProcess(t, { dataDir, port });
  const names = new Set((await m.client.listNetworks()).map((n) => n.spec.name));
  t.same(
    acknowledged.filter((n) => !names.has(n)),
    [],
    'every acknowledged network is there',
  );
  await assertUnique(t, m.client);
  // the allocator continues without collisions
  const more = await Promise.all(Array.from({ length: 10 }, (_, i) => m.client.createNetwork(defaultNetworkSpec(`after${i}`))));
  t.equal(more.length, 10);
  await assertUnique(t, m.client);
});
