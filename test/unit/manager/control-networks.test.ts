import t from 'tap';
import { defaultContainerSpec, defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { NetworkSpec } from '../../../src/api/api-types.ts';
import { inProcessManager } from '../../support/manager-harness.ts';

const net = (name: string, patch: Partial<NetworkSpec> = {}): NetworkSpec => ({ ...defaultNetworkSpec(name), ...patch });

t.test('cluster init: ingress network, manager node, tokens', async (t) => {
  const { control } = await inProcessManager(t);
  const nets = await control.listNetworks();
  t.equal(nets.length, 1);
  const ingress = nets[0]!;
  t.match(ingress, {
    spec: { name: 'ingress', ingress: true },
    vxlanId: 4096,
    ingress: true,
    scope: 'swarm',
    ipam: [{ subnet: '10.255.0.0/16', gateway: '10.255.0.1' }],
  });
  t.match(ingress.id, /^[0-9a-z]{25}$/);
  t.equal(ingress.endpointCount, 1, "the manager node's ingress sandbox address");
  const self = await control.inspectNode('self');
  t.match(self, { spec: { role: 'manager', availability: 'active' }, managerStatus: { leader: true } });
  const swarm = await control.inspectSwarm();
  t.match(swarm.joinTokens.worker, new RegExp(`^SWMTKN-1-${swarm.caDigest}-[0-9a-z]{25}$`));
  t.not(swarm.joinTokens.worker, swarm.joinTokens.manager);
  t.equal(swarm.gossipKeys.length, 1);
  const eps = await control.networkEndpoints('ingress');
  t.match(eps.endpoints, [{ kind: 'node-ingress', nodeId: self.id, addr: '10.255.0.2/16', mac: '02:42:0a:ff:00:02' }]);
});

t.test('networks get IDs, VXLAN IDs from 4097 and subnets from the default pool', async (t) => {
  const { control } = await inProcessManager(t);
  const a = await control.createNetwork(net('front'));
  const b = await control.createNetwork(
    net('back', {
      attachable: true,
      labels: { tier: 'db' },
      subnets: [{ subnet: '10.9.0.0/16', gateway: '10.9.0.254', ipRange: '10.9.1.0/24', auxAddresses: { router: '10.9.0.10' } }],
    }),
  );
  const c = await control.createNetwork(net('third', { ipv6: true }));
  t.same([a.vxlanId, b.vxlanId, c.vxlanId], [4097, 4098, 4099]);
  t.match(a.id, /^[0-9a-z]{25}$/);
  t.same(a.ipam, [{ subnet: '10.0.0.0/24', gateway: '10.0.0.1', auxAddresses: {} }]);
  t.same(b.ipam, [{ subnet: '10.9.0.0/16', gateway: '10.9.0.254', ipRange: '10.9.1.0/24', auxAddresses: { router: '10.9.0.10' } }]);
  t.equal(c.ipam.length, 2, 'IPv4 and IPv6 subnets');
  t.same(
    (await control.listNetworks({ labels: ['tier=db'] })).map((n) => n.spec.name),
    ['back'],
  );
  t.same(
    (await control.listNetworks({ names: ['ro'] })).map((n) => n.spec.name),
    ['front'],
  );
  t.equal((await control.inspectNetwork(a.id.slice(0, 6))).id, a.id, 'unique ID prefix');
  await control.removeNetwork('front');
  const d = await control.createNetwork(net('fourth'));
  t.equal(d.vxlanId, 4100, 'the next VXLAN ID after the last one handed out, not the freed one');
  t.same(await control.pruneNetworks(), ['back', 'fourth', 'third']);
  t.same(
    (await control.listNetworks()).map((n) => n.spec.name),
    ['ingress'],
  );
});

t.test('containers on attachable networks: run, connect, disconnect, rm', async (t) => {
  const { control } = await inProcessManager(t);
  await control.createNetwork(net('app', { attachable: true }));
  await control.createNetwork(net('other', { attachable: true }));
  await control.createNetwork(net('closed'));
  const c = await control.runContainer({ ...defaultContainerSpec('c1'), networks: [{ target: 'app', aliases: ['db'] }] });
  t.match(c, {
    spec: { name: 'c1' },
    state: 'created',
    networks: [{ networkName: 'app', addresses: ['10.0.0.2/24'], mac: '02:42:0a:00:00:02', aliases: ['db'] }],
  });
  t.equal(c.nodeId, (await control.inspectNode('self')).id, 'defaults to the manager node');
  await t.rejects(control.runContainer({ ...defaultContainerSpec('c2'), networks: [{ target: 'closed', aliases: [] }] }), {
    code: 'SHOAL_ERR_NOT_ATTACHABLE',
  });
  await t.rejects(control.runContainer({ ...defaultContainerSpec('c1'), networks: [] }), { code: 'SHOAL_ERR_CONTAINER_EXISTS' });
  const connected = await control.connectNetwork('other', 'c1', ['x']);
  t.same(
    connected.networks.map((n) => n.networkName),
    ['app', 'other'],
  );
  await t.rejects(control.connectNetwork('other', 'c1'), { code: 'SHOAL_ERR_ALREADY_CONNECTED' });
  await t.rejects(control.removeNetwork('other'), { code: 'SHOAL_ERR_NETWORK_IN_USE', message: /containers c1/ });
  await control.disconnectNetwork('other', 'c1');
  await t.rejects(control.disconnectNetwork('other', 'c1'), { code: 'SHOAL_ERR_NOT_CONNECTED' });
  await control.removeNetwork('other');
  await control.removeContainer('c1');
  t.equal((await control.inspectNetwork('app')).endpointCount, 0, 'addresses returned');
  const again = await control.runContainer({ ...defaultContainerSpec(''), networks: [{ target: 'app', aliases: [] }] });
  t.match(again.spec.name, /^shoal-[0-9a-z]{12}$/);
});

t.test('bad network requests are refused with stable codes and change nothing', async (t) => {
  const { control } = await inProcessManager(t);
  await control.createNetwork(net('taken', { subnets: [{ subnet: '10.5.0.0/16', auxAddresses: {} }] }));
  await control.createService({ ...defaultServiceSpec('user'), networks: [{ target: 'taken', aliases: [] }] });
  await control.runContainer({ ...defaultContainerSpec('box'), networks: [] });
  const cases: [string, () => Promise<unknown>, string][] = [
    ['empty name', () => control.createNetwork(net('')), 'SHOAL_ERR_BAD_NAME'],
    ['bad name', () => control.createNetwork(net('-x')), 'SHOAL_ERR_BAD_NAME'],
    ['duplicate name', () => control.createNetwork(net('taken')), 'SHOAL_ERR_NETWORK_EXISTS'],
    ['bad driver', () => control.createNetwork(net('d', { driver: 'bridge' })), 'SHOAL_ERR_BAD_DRIVER'],
    [
      'bad CIDR',
      () => control.createNetwork(net('n', { subnets: [{ subnet: '10.1.0.0/33', auxAddresses: {} }] })),
      'SHOAL_ERR_IPAM_BAD_CIDR',
    ],
    ['not a CIDR', () => control.createNetwork(net('n', { subnets: [{ subnet: 'banana', auxAddresses: {} }] })), 'SHOAL_ERR_IPAM_BAD_CIDR'],
    [
      'host bits set',
      () => control.createNetwork(net('n', { subnets: [{ subnet: '10.1.0.1/16', auxAddresses: {} }] })),
      'SHOAL_ERR_IPAM_HOST_BITS_SET',
    ],
    [
      'overlapping subnet',
      () => control.createNetwork(net('n', { subnets: [{ subnet: '10.5.1.0/24', auxAddresses: {} }] })),
      'SHOAL_ERR_IPAM_OVERLAP',
    ],
    [
      'overlaps ingress',
      () => control.createNetwork(net('n', { subnets: [{ subnet: '10.255.0.0/24', auxAddresses: {} }] })),
      'SHOAL_ERR_IPAM_OVERLAP',
    ],
    [
      'gateway outside',
      () => control.createNetwork(net('n', { subnets: [{ subnet: '10.6.0.0/16', gateway: '10.7.0.1', auxAddresses: {} }] })),
      'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
    ],
    [
      'ip-range outside',
      () => control.createNetwork(net('n', { subnets: [{ subnet: '10.6.0.0/16', ipRange: '10.8.0.0/24', auxAddresses: {} }] })),
      'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
    ],
    [
      'aux outside',
      () => control.createNetwork(net('n', { subnets: [{ subnet: '10.6.0.0/16', auxAddresses: { a: '10.9.9.9' } }] })),
      'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
    ],
    [
      'gateway without subnet',
      () => control.createNetwork(net('n', { subnets: [{ subnet: '', gateway: '10.0.0.1', auxAddresses: {} }] })),
      'SHOAL_ERR_BAD_SPEC',
    ],
    ['second ingress', () => control.createNetwork(net('ing2', { ingress: true })), 'SHOAL_ERR_NETWORK_EXISTS'],
    ['unknown network inspect', () => control.inspectNetwork('nope'), 'SHOAL_ERR_NETWORK_NOT_FOUND'],
    ['unknown network rm', () => control.removeNetwork('nope'), 'SHOAL_ERR_NETWORK_NOT_FOUND'],
    ['remove ingress', () => control.removeNetwork('ingress'), 'SHOAL_ERR_INGRESS_PROTECTED'],
    ['remove in use', () => control.removeNetwork('taken'), 'SHOAL_ERR_NETWORK_IN_USE'],
    ['connect unknown container', () => control.connectNetwork('taken', 'ghost'), 'SHOAL_ERR_CONTAINER_NOT_FOUND'],
    ['connect to ingress', () => control.connectNetwork('ingress', 'box'), 'SHOAL_ERR_NOT_ATTACHABLE'],
    ['connect non-attachable', () => control.connectNetwork('taken', 'box'), 'SHOAL_ERR_NOT_ATTACHABLE'],
    ['disconnect not connected', () => control.disconnectNetwork('taken', 'box'), 'SHOAL_ERR_NOT_CONNECTED'],
  ];
  for (const [what, call, code] of cases) {
    const before = await control.dump();
    await t.rejects(call(), { code }, what);
    t.equal(await control.dump(), before, `${what}: store unchanged`);
  }
  // IPAM state must also be unchanged in memory: the next network gets the next subnet
  const next = await control.createNetwork(net('after'));
  t.same(
    next.ipam.map((c) => c.subnet),
    ['10.0.0.0/24'],
  );
  t.equal(next.vxlanId, 4098);
});
