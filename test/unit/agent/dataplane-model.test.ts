/**
 * The overlay model an agent builds: a network's namespace only where a local sandbox uses
 * it (ingress everywhere), the MTU option, egress only for sandboxes on a non-internal
 * network, remotes only for networks present, and stable egress addresses across restarts.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultNetworkSpec } from '../../../src/api/api-defaults.ts';
import type { Network } from '../../../src/api/api-types.ts';
import { buildOverlayModel, networkMtu } from '../../../src/agent/dataplane-model.ts';
import { sandboxFiles } from '../../../src/agent/sandbox-files.ts';
import { EgressAddresses } from '../../../src/agent/egress-addresses.ts';

function net(id: string, vni: number, subnet: string, opts: { internal?: boolean; ingress?: boolean; mtu?: string } = {}): Network {
  const spec = {
    ...defaultNetworkSpec(id),
    internal: !!opts.internal,
    ingress: !!opts.ingress,
    options: opts.mtu ? { 'com.docker.network.driver.mtu': opts.mtu } : {},
  };
  const gw = subnet.replace(/\.0\/(\d+)$/, '.1');
  return {
    id,
    version: 1,
    createdAt: '',
    updatedAt: '',
    spec,
    vxlanId: vni,
    ipam: [{ subnet, gateway: gw, auxAddresses: {} }],
    scope: 'swarm',
    ingress: !!opts.ingress,
    endpointCount: 0,
    downEndpointCount: 0,
    serviceIds: [],
  };
}

const networks = new Map<string, Network>([
  ['ingress', net('ingress', 4096, '10.255.0.0/16', { ingress: true })],
  ['front', net('front', 4097, '10.0.0.0/24', { mtu: '1400' })],
  ['back', net('back', 4098, '10.0.1.0/24', { internal: true })],
  ['unused', net('unused', 4099, '10.0.2.0/24')],
]);

t.test('namespaces only for networks in use, plus ingress; remotes of absent networks dropped', async (t) => {
  const m = buildOverlayModel({
    prefix: 'shoal-h2-',
    vtep: '192.0.2.12',
    underlayMtu: 1500,
    networks,
    sandboxes: [
      { id: 'task1aaaaaaaaaaaa', networks: [{ networkId: 'front', addresses: ['10.0.0.3/24'], mac: '02:42:0a:00:00:03' }] },
      { id: 'task2bbbbbbbbbbbb', networks: [{ networkId: 'back', addresses: ['10.0.1.3/24'], mac: '02:42:0a:00:01:03' }] },
    ],
    egress: new Map([['task1aaaaaaaaaaaa', '172.18.0.2/16']]),
    remotes: new Map([
      ['front', [{ networkId: 'front', ip: '10.0.0.4', mac: '02:42:0a:00:00:04', vtep: '192.0.2.13' }]],
      ['unused', [{ networkId: 'unused', ip: '10.0.2.4', mac: '02:42:0a:00:02:04', vtep: '192.0.2.13' }]],
    ]),
  });
  t.same(
    m.networks.map((n) => n.id),
    ['back', 'front', 'ingress'],
  );
  t.equal(m.networks.find((n) => n.id === 'front')?.mtu, 1400, 'the driver MTU option is carried');
  t.equal(m.networks.find((n) => n.id === 'ingress')?.mtu, undefined, 'no option: the planner derives underlay - 50');
  t.equal(m.networks.find((n) => n.id === 'back')?.internal, true);
  t.same(
    m.remotes.map((r) => r.ip),
    ['10.0.0.4'],
  );
  t.equal(m.sandboxes.find((s) => s.id === 'task1aaaaaaaaaaaa')?.egress, '172.18.0.2/16');
  t.equal(m.sandboxes.find((s) => s.id === 'task2bbbbbbbbbbbb')?.egress, undefined, 'internal only: no route out');
});

t.test('the MTU option is validated', async (t) => {
  t.equal(networkMtu(net('x', 1, '10.9.0.0/24', { mtu: '9000' })), 9000);
  t.equal(networkMtu(net('x', 1, '10.9.0.0/24', { mtu: 'abc' })), undefined);
  t.equal(networkMtu(net('x', 1, '10.9.0.0/24', { mtu: '20' })), undefined);
});

t.test('resolv.conf points at the embedded resolver with ndots:0 unless told otherwise', async (t) => {
  const f = sandboxFiles({ hostname: 'abc', addresses: ['10.0.0.3'], dnsSearch: ['example.org'], dnsOptions: [] });
  t.equal(f.resolvConf, 'nameserver 127.0.0.11\nsearch example.org\noptions ndots:0\n');
  t.match(f.hosts, /^10\.0\.0\.3\tabc$/m);
  // --dns servers are the resolver's upstreams, not the sandbox's nameservers
  const g = sandboxFiles({ hostname: 'abc', addresses: [], dnsSearch: [], dnsOptions: ['ndots:2', 'timeout:1'] });
  t.equal(g.resolvConf, 'nameserver 127.0.0.11\noptions ndots:2 timeout:1\n');
});

t.test('egress addresses: stable across a restart, released when the sandbox goes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-egress-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'egress.json');
  const a = new EgressAddresses(file, '172.18.0.0/16');
  t.equal(a.get('x'), '172.18.0.2/16');
  t.equal(a.get('y'), '172.18.0.3/16');
  t.equal(a.get('x'), '172.18.0.2/16', 'same owner, same address');
  const b = new EgressAddresses(file, '172.18.0.0/16');
  t.equal(b.get('y'), '172.18.0.3/16', 'a restarted agent keeps the address');
  b.retain(new Set(['y']));
  const c = new EgressAddresses(file, '172.18.0.0/16');
  t.equal(c.get('z'), '172.18.0.4/16', 'allocation moves on');
  t.equal(c.get('x2'), '172.18.0.5/16', "x's released address is not reused at once");
  const tiny = new EgressAddresses(undefined, '10.9.9.0/30');
  t.equal(tiny.get('p'), '10.9.9.2/30');
  t.throws(() => tiny.get('q'), /full/);
});
