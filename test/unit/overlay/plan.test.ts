/**
 * The overlay planner, table-driven: names, the MTU rule (underlay - 50, or the
 * network's com.docker.network.driver.mtu), egress and the missing default route of
 * internal networks, remotes -> one neighbour and one fdb entry each, and what a model
 * item that cannot be programmed does (left out, reported; the rest still planned).
 */
import t from 'tap';
import { IFNAME_MAX } from '../../../src/kernel/validate.ts';
import type { OverlayModel } from '../../../src/overlay/model.ts';
import {
  egressBridgeName,
  egressVethName,
  hostLinkPrefix,
  hostLinkRole,
  netnsRole,
  overlayNetnsName,
  sandboxNetnsName,
  sandboxVethName,
  tempVxlanName,
  vxlanName,
} from '../../../src/overlay/names.ts';
import { desiredText, type NsDesired, nsDesiredLines, type OverlayDesired } from '../../../src/overlay/objects.ts';
import { planOverlay } from '../../../src/overlay/plan.ts';
import { BACK, BACK_NS, baseModel, FRONT, FRONT_NS, PREFIX, remote, sandbox } from './model-fixtures.ts';

function ns(d: OverlayDesired, name: string): NsDesired {
  const n = d.namespaces.get(name);
  if (!n) throw new Error(`namespace ${name} not planned; have ${[...d.namespaces.keys()].join(', ')}`);
  return n;
}

const lines = (d: OverlayDesired, name: string): string[] => nsDesiredLines(ns(d, name));
const SB_A = `${PREFIX}sb-a1a1a1a1a1a1`;
const SB_C = `${PREFIX}sb-c2c2c2c2c2c2`;

t.test('names', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['overlay namespace', overlayNetnsName('shoal-h2-', 'abcdef0123456789abcd'), 'shoal-h2-ov-abcdef012345'],
    ['sandbox namespace', sandboxNetnsName('shoal-h2-', 'task9876543210xyz'), 'shoal-h2-sb-task98765432'],
    ['vxlan device', vxlanName(4097), 'vx4097'],
    ['largest vni fits', vxlanName(16777215), 'vx16777215'],
    ['sandbox veth in the overlay', sandboxVethName('task9876543210xyz'), 'vtask98765432'],
    ['egress bridge', egressBridgeName('shoal-h2-'), 'shoal-h2-gw0'],
    ['temporary vxlan', tempVxlanName('shoal-h2-', 4097), 'shoal-h2-v35t'],
    ['temporary vxlan, largest vni', tempVxlanName('shoal-h2-', 16777215), 'shoal-h2-v9zldr'],
    ['host link prefix of a short prefix', hostLinkPrefix('shoal-'), 'shoal-'],
  ];
  for (const [what, got, want] of cases) t.equal(got, want, what);
  for (const [, got] of cases) t.ok(got.length <= 255, 'namespace names fit');
});

t.test('egress veth names: one rule, always within IFNAMSIZ, owned by the prefix', async (t) => {
  const prefixes = ['shoal-', 'shoal-h2-', 'shoal-h12-', 'shoal-tov-123456-h1-', 'x'];
  const ids = ['a1a1a1a1a1a1a1a1', 'a1a1a1a1a1a1a1a2', 'ffffffffffffffffffffffffff', '1'];
  for (const p of prefixes) {
    const lp = hostLinkPrefix(p);
    t.ok(lp.length <= 9, `${p}: host link prefix ${lp} is at most 9 characters`);
    t.equal(hostLinkPrefix(p), lp, 'stable');
    for (const id of ids) {
      const name = egressVethName(p, id);
      t.ok(name.length <= IFNAME_MAX, `${name} fits IFNAMSIZ`);
      t.match(name, new RegExp(`^${lp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}e[0-9a-z]{5}$`), `${name}: <lp>e + 5 base-36 characters`);
      t.equal(hostLinkRole(p, name), 'egress-veth', 'recognised as ours');
      t.equal(egressVethName(p, id), name, 'the same id gives the same name');
    }
    t.ok(tempVxlanName(p, 16777215).length <= IFNAME_MAX, 'temporary vxlan name fits');
    t.ok(egressBridgeName(p).length <= IFNAME_MAX, 'gateway bridge name fits');
    t.equal(hostLinkRole(p, egressBridgeName(p)), 'egress-bridge');
    t.equal(hostLinkRole(p, tempVxlanName(p, 4097)), 'temp-vxlan');
  }
  t.not(egressVethName('shoal-', ids[0]!), egressVethName('shoal-', ids[1]!), 'ids differing in the last character differ');
  t.not(egressVethName('shoal-', ids[0]!, 1), egressVethName('shoal-', ids[0]!), 'a salt changes the name');
  t.equal(hostLinkPrefix('shoal-tov-123456-h1-').startsWith('shoa'), true, 'a long prefix keeps its start');
  t.not(hostLinkPrefix('shoal-tov-123456-h1-'), hostLinkPrefix('shoal-tov-123456-h2-'), 'two long prefixes differ');
  t.equal(hostLinkRole('shoal-h2-', 'eth0'), undefined, 'other links are not ours');
  t.equal(hostLinkRole('shoal-h2-', 'shoal-h2-other'), undefined, 'other prefixed links are not ours either');
  t.equal(netnsRole('shoal-h2-', 'shoal-h2-ov-abc'), 'overlay');
  t.equal(netnsRole('shoal-h2-', 'shoal-h2-sb-abc'), 'sandbox');
  t.equal(netnsRole('shoal-h2-', 'shoal-h2'), undefined);
  t.equal(netnsRole('shoal-h2-', 'shoal-h2-ov-'), undefined);
});

t.test('the base model, object by object', async (t) => {
  const d = planOverlay(baseModel());
  t.same(d.problems, [], 'no problems');
  t.same([...d.namespaces.keys()].sort(), ['', BACK_NS, FRONT_NS, SB_A, SB_C], 'host, two overlays, two sandboxes');
  t.same(lines(d, FRONT_NS), [
    'addr 10.0.0.1/24 dev br0',
    'fdb 02:42:0a:00:00:05 dev vx4097 dst 192.0.2.11 self permanent',
    'fdb 02:42:0a:00:00:06 dev vx4097 dst 192.0.2.13 self permanent',
    'link br0 bridge mtu 1450 up',
    'link lo other up',
    `link va1a1a1a1a1a1 veth mtu 1450 master br0 up peer ${SB_A}/eth0`,
    'link vx4097 vxlan id 4097 dstport 4789 local 192.0.2.12 nolearning proxy l2miss l3miss mtu 1450 master br0 up',
    'neigh 10.0.0.5 lladdr 02:42:0a:00:00:05 dev vx4097 permanent',
    'neigh 10.0.0.6 lladdr 02:42:0a:00:00:06 dev vx4097 permanent',
  ]);
  const egressVeth = egressVethName(PREFIX, 'a1a1a1a1a1a1a1a1');
  t.same(lines(d, SB_A), [
    'addr 10.0.0.3/24 dev eth0',
    'addr 172.18.0.2/16 dev eth1',
    `link eth0 veth mtu 1450 address 02:42:0a:00:00:03 up peer ${FRONT_NS}/va1a1a1a1a1a1`,
    `link eth1 veth mtu 1500 address 02:42:ac:12:00:02 up peer host/${egressVeth}`,
    'link lo other up',
    'route default via 172.18.0.1 dev eth1 table 254',
  ]);
  t.same(lines(d, SB_C), [
    'addr 10.0.1.3/24 dev eth0',
    `link eth0 veth mtu 1450 address 02:42:0a:00:01:03 up peer ${BACK_NS}/vc2c2c2c2c2c2`,
    'link lo other up',
  ]);
  const host = lines(d, '');
  t.same(host.slice(0, 3), [
    'addr 172.18.0.1/16 dev shoal-h2-gw0',
    `link ${egressVeth} veth mtu 1500 master shoal-h2-gw0 up peer ${SB_A}/eth1`,
    'link shoal-h2-gw0 bridge mtu 1500 address 02:42:ac:12:00:01 up',
  ]);
  t.match(host[3], /^nft table ip shoal-h2-egress: /);
  t.match(host[3], /rule ip saddr 172\.18\.0\.0\/16 oifname != "shoal-h2-gw0" masquerade/);
  t.match(host[3], /rule iifname "shoal-h2-gw0" oifname "shoal-h2-gw0" drop/);
  t.equal(host[4], 'sysctl net.ipv4.ip_forward=1');
  const vx = ns(d, FRONT_NS).links.find((l) => l.name === 'vx4097')!;
  t.equal(vx.create, 'vxlan', 'the vxlan is created elsewhere and moved');
  t.equal(vx.tempName, tempVxlanName(PREFIX, 4097), 'under its temporary host name');
});

t.test('MTU: underlay - 50 unless the network says (com.docker.network.driver.mtu)', async (t) => {
  const cases: Array<{ what: string; underlay: number; mtu?: number; want: number }> = [
    { what: '1500 underlay', underlay: 1500, want: 1450 },
    { what: 'jumbo underlay', underlay: 9000, want: 8950 },
    { what: 'small underlay', underlay: 1400, want: 1350 },
    { what: 'driver.mtu option below', underlay: 1500, mtu: 1400, want: 1400 },
    { what: 'driver.mtu option wins over a jumbo underlay', underlay: 9000, mtu: 1500, want: 1500 },
  ];
  for (const c of cases) {
    const m = baseModel({ underlayMtu: c.underlay });
    m.networks[0] = { ...m.networks[0]!, ...(c.mtu !== undefined ? { mtu: c.mtu } : {}) };
    const d = planOverlay(m);
    const ov = ns(d, FRONT_NS);
    const mtus = ov.links.filter((l) => l.name !== 'lo').map((l) => l.mtu);
    t.same(mtus, [c.want, c.want, c.want], `${c.what}: br0, vx4097, the sandbox veth`);
    t.equal(ns(d, SB_A).links.find((l) => l.name === 'eth0')?.mtu, c.want, `${c.what}: the sandbox's eth0`);
    t.equal(ns(d, SB_A).links.find((l) => l.name === 'eth1')?.mtu, c.underlay, `${c.what}: egress keeps the underlay MTU`);
    t.equal(ns(d, BACK_NS).links.find((l) => l.name === 'br0')?.mtu, c.underlay - 50, `${c.what}: the other network keeps the rule`);
  }
  const bad = baseModel();
  bad.networks[0] = { ...bad.networks[0]!, mtu: 40 };
  const d = planOverlay(bad);
  t.notOk(d.namespaces.has(FRONT_NS), 'a network with an impossible MTU is left out');
  t.match(d.problems, [{ code: 'SHOAL_ERR_OVERLAY_BAD_MODEL', item: `network ${FRONT}` }], 'and reported');
  t.ok(d.namespaces.has(BACK_NS), 'the other network is still planned');
});

t.test('egress: a way out for normal networks, none for internal ones', async (t) => {
  const cases: Array<{ what: string; sandbox: ReturnType<typeof sandbox>; route: boolean; egressIf?: string; problem?: RegExp }> = [
    {
      what: 'normal network with egress',
      sandbox: sandbox('s1', [[FRONT, '10.0.0.9/24']], '172.18.0.9/16'),
      route: true,
      egressIf: 'eth1',
    },
    { what: 'internal network', sandbox: sandbox('s1', [[BACK, '10.0.1.9/24']]), route: false },
    {
      what: 'internal network given egress anyway',
      sandbox: sandbox('s1', [[BACK, '10.0.1.9/24']], '172.18.0.9/16'),
      route: false,
      problem: /internal networks only/,
    },
    {
      what: 'internal and normal: egress after both attachments',
      sandbox: sandbox(
        's1',
        [
          [BACK, '10.0.1.9/24'],
          [FRONT, '10.0.0.9/24'],
        ],
        '172.18.0.9/16',
      ),
      route: true,
      egressIf: 'eth2',
    },
    { what: 'normal network, no egress given', sandbox: sandbox('s1', [[FRONT, '10.0.0.9/24']]), route: false },
    {
      what: 'egress address outside the pool',
      sandbox: sandbox('s1', [[FRONT, '10.0.0.9/24']], '172.19.0.9/16'),
      route: false,
      problem: /not an address of 172\.18\.0\.0\/16/,
    },
  ];
  for (const c of cases) {
    const d = planOverlay(baseModel({ sandboxes: [c.sandbox], remotes: [] }));
    const sb = ns(d, `${PREFIX}sb-s1`);
    t.equal(sb.routes.length, c.route ? 1 : 0, `${c.what}: ${c.route ? 'a' : 'no'} default route`);
    if (c.route)
      t.same(sb.routes[0], { dst: 'default', family: 4, gateway: '172.18.0.1', dev: c.egressIf, table: 254 }, `${c.what}: via the gateway`);
    const host = ns(d, '');
    t.equal(
      host.links.some((l) => l.name === 'shoal-h2-gw0'),
      c.route,
      `${c.what}: gateway bridge ${c.route ? '' : 'not '}planned`,
    );
    t.equal(host.nft.length, c.route ? 1 : 0, `${c.what}: egress table`);
    t.same(host.sysctls, c.route ? [{ name: 'net.ipv4.ip_forward', value: '1' }] : [], `${c.what}: forwarding`);
    if (c.egressIf)
      t.ok(
        sb.links.some((l) => l.name === c.egressIf && l.peer?.netns === ''),
        `${c.what}: ${c.egressIf} goes to the host`,
      );
    if (c.problem) t.match(d.problems, [{ code: 'SHOAL_ERR_OVERLAY_BAD_MODEL', message: c.problem }], `${c.what}: reported`);
    else t.same(d.problems, [], `${c.what}: no problem`);
  }
});

t.test('remotes: one permanent neighbour and one fdb entry each, on their network', async (t) => {
  const d = planOverlay(baseModel({ remotes: [remote(5), remote(7, 13), remote(9, 11, BACK), remote(10, 14, 'not-a-planned-network')] }));
  t.same(ns(d, FRONT_NS).neighbors, [
    { link: 'vx4097', address: '10.0.0.5', lladdr: '02:42:0a:00:00:05', state: 'permanent' },
    { link: 'vx4097', address: '10.0.0.7', lladdr: '02:42:0a:00:00:07', state: 'permanent' },
  ]);
  t.same(ns(d, FRONT_NS).fdb, [
    { link: 'vx4097', mac: '02:42:0a:00:00:05', dst: '192.0.2.11', self: true, permanent: true },
    { link: 'vx4097', mac: '02:42:0a:00:00:07', dst: '192.0.2.13', self: true, permanent: true },
  ]);
  t.same(
    lines(d, BACK_NS).filter((l) => /^(neigh|fdb)/.test(l)),
    ['fdb 02:42:0a:00:01:09 dev vx4098 dst 192.0.2.11 self permanent', 'neigh 10.0.1.9 lladdr 02:42:0a:00:01:09 dev vx4098 permanent'],
  );
  t.match(d.problems, [{ code: 'SHOAL_ERR_OVERLAY_BAD_MODEL', item: 'remote not-a-planned-network/10.0.0.10' }]);
  t.notOk(
    [...d.namespaces.values()].some((n) => n.role === 'host' && (n.neighbors.length > 0 || n.fdb.length > 0)),
    'nothing in the host namespace',
  );
});

t.test('items that cannot be programmed are left out and reported; the rest is planned', async (t) => {
  const cases: Array<{
    what: string;
    change: (m: OverlayModel) => void;
    code: string;
    item: string;
    check?: (d: OverlayDesired) => boolean;
  }> = [
    {
      what: 'two networks with one VNI',
      change: (m) => m.networks.push({ id: 'ffeeddccbbaa99', vni: 4097, subnet: '10.0.2.0/24', gateway: '10.0.2.1', internal: false }),
      code: 'SHOAL_ERR_OVERLAY_CONFLICT',
      item: 'network ffeeddccbbaa99',
    },
    {
      what: 'gateway outside the subnet',
      change: (m) => m.networks.push({ id: 'ffeeddccbbaa99', vni: 4099, subnet: '10.0.2.0/24', gateway: '10.0.3.1', internal: false }),
      code: 'SHOAL_ERR_OVERLAY_BAD_MODEL',
      item: 'network ffeeddccbbaa99',
    },
    {
      what: 'subnet with host bits',
      change: (m) => m.networks.push({ id: 'ffeeddccbbaa99', vni: 4099, subnet: '10.0.2.1/24', gateway: '10.0.2.1', internal: false }),
      code: 'SHOAL_ERR_OVERLAY_BAD_MODEL',
      item: 'network ffeeddccbbaa99',
    },
    {
      what: 'a remote with a local address',
      change: (m) => m.remotes.push({ ...remote(3), vtep: '192.0.2.11' }),
      code: 'SHOAL_ERR_OVERLAY_CONFLICT',
      item: 'remote f0f0f0f0f0f0f0f0f0f0f0f0/10.0.0.3',
      check: (d) => ns(d, FRONT_NS).neighbors.every((n) => n.address !== '10.0.0.3'),
    },
    {
      what: 'one address behind two VTEPs: the first in order wins',
      change: (m) => m.remotes.push({ ...remote(5), vtep: '192.0.2.19' }),
      code: 'SHOAL_ERR_OVERLAY_CONFLICT',
      item: 'remote f0f0f0f0f0f0f0f0f0f0f0f0/10.0.0.5',
      check: (d) => ns(d, FRONT_NS).fdb.find((f) => f.mac === '02:42:0a:00:00:05')?.dst === '192.0.2.11',
    },
    {
      what: "a remote behind this node's own VTEP",
      change: (m) => m.remotes.push(remote(8, 12)),
      code: 'SHOAL_ERR_OVERLAY_BAD_MODEL',
      item: 'remote f0f0f0f0f0f0f0f0f0f0f0f0/10.0.0.8',
    },
    {
      what: 'a sandbox on an unknown network keeps its interface numbering',
      change: (m) =>
        m.sandboxes.push(
          sandbox('e5e5e5e5e5e5', [
            ['nope', '10.9.0.2/24'],
            [FRONT, '10.0.0.20/24'],
          ]),
        ),
      code: 'SHOAL_ERR_OVERLAY_BAD_MODEL',
      item: 'sandbox e5e5e5e5e5e5 attachment 0 (network nope)',
      check: (d) => ns(d, `${PREFIX}sb-e5e5e5e5e5e5`).links.some((l) => l.name === 'eth1'),
    },
    {
      what: 'two sandboxes with one address',
      change: (m) => m.sandboxes.push(sandbox('f6f6f6f6', [[FRONT, '10.0.0.3/24']])),
      code: 'SHOAL_ERR_OVERLAY_CONFLICT',
      item: 'sandbox f6f6f6f6 attachment 0 (network f0f0f0f0f0f0f0f0f0f0f0f0)',
    },
    {
      what: 'two sandboxes with one id12',
      change: (m) => m.sandboxes.push(sandbox('a1a1a1a1a1a1zzzz', [[FRONT, '10.0.0.30/24']])),
      code: 'SHOAL_ERR_OVERLAY_CONFLICT',
      item: 'sandbox a1a1a1a1a1a1zzzz',
    },
    {
      what: 'an address with the wrong prefix length',
      change: (m) => m.sandboxes.push(sandbox('g7g7g7g7', [[FRONT, '10.0.0.31/16']])),
      code: 'SHOAL_ERR_OVERLAY_BAD_MODEL',
      item: 'sandbox g7g7g7g7 attachment 0 (network f0f0f0f0f0f0f0f0f0f0f0f0)',
    },
  ];
  const base = desiredText(planOverlay(baseModel()));
  for (const c of cases) {
    const m = baseModel();
    c.change(m);
    const d = planOverlay(m);
    t.match(d.problems, [{ code: c.code, item: c.item }], `${c.what}: reported`);
    t.equal(d.problems.length, 1, `${c.what}: once`);
    for (const line of base.split('\n')) {
      if (!desiredText(d).includes(line.trim())) t.fail(`${c.what}: the base plan's ${line.trim()} is missing`);
    }
    if (c.check) t.ok(c.check(d), `${c.what}: the first claim stands`);
  }
});

t.test('a model that cannot be planned at all throws SHOAL_ERR_OVERLAY_BAD_MODEL', async (t) => {
  const cases: Array<[string, Partial<OverlayModel>]> = [
    ['prefix with a slash', { prefix: 'shoal/h2-' }],
    ['prefix starting with a digit', { prefix: '2shoal-' }],
    ['empty prefix', { prefix: '' }],
    ['VTEP not an address', { vtep: 'h2' }],
    ['IPv6 VTEP', { vtep: '2001:db8::1' }],
    ['underlay MTU', { underlayMtu: 0 }],
    ['data port', { dataPort: 70000 }],
  ];
  for (const [what, o] of cases) {
    t.throws(() => planOverlay(baseModel(o)), { code: 'SHOAL_ERR_OVERLAY_BAD_MODEL' }, what);
  }
});

t.test('the plan does not depend on the order of the model', async (t) => {
  const m = baseModel({ remotes: [remote(5), remote(6, 13), remote(7), remote(9, 11, BACK)] });
  const want = desiredText(planOverlay(m));
  const reversed: OverlayModel = {
    ...m,
    networks: [...m.networks].reverse(),
    sandboxes: [...m.sandboxes].reverse(),
    remotes: [...m.remotes].reverse(),
  };
  t.equal(desiredText(planOverlay(reversed)), want);
  t.equal(desiredText(planOverlay(m)), want, 'and planning twice gives the same');
});

t.test('a model with nothing in it plans an empty host namespace', async (t) => {
  const d = planOverlay(baseModel({ networks: [], sandboxes: [], remotes: [] }));
  t.same([...d.namespaces.keys()], ['']);
  t.same(lines(d, ''), []);
});

t.test('interface names the agent keeps: given names are used, bad or repeated ones are refused', async (t) => {
  const s = sandbox(
    's1',
    [
      [BACK, '10.0.1.9/24'],
      [FRONT, '10.0.0.9/24'],
    ],
    '172.18.0.9/16',
  );
  s.attachments[0]!.ifname = 'eth0';
  s.attachments[1]!.ifname = 'eth3';
  s.egressIfname = 'eth1';
  const d = planOverlay(baseModel({ sandboxes: [s], remotes: [] }));
  const sb = ns(d, `${PREFIX}sb-s1`);
  t.same(sb.links.map((l) => l.name).sort(), ['eth0', 'eth1', 'eth3', 'lo'], 'the sandbox has the named interfaces');
  t.same(sb.routes[0]?.dev, 'eth1', 'the default route leaves by the named egress interface');
  t.same(sb.addresses.map((a) => `${a.link} ${a.address}`).sort(), ['eth0 10.0.1.9', 'eth1 172.18.0.9', 'eth3 10.0.0.9']);
  const twice = sandbox('s2', [[FRONT, '10.0.0.8/24']], '172.18.0.8/16');
  twice.attachments[0]!.ifname = 'eth0';
  twice.egressIfname = 'eth0';
  const d2 = planOverlay(baseModel({ sandboxes: [twice], remotes: [] }));
  t.match(d2.problems.map((p) => p.message).join('\n'), /egress interface name "eth0" is not eth<N> or is used twice/);
  const bad = sandbox('s3', [[FRONT, '10.0.0.7/24']]);
  bad.attachments[0]!.ifname = 'wlan0';
  t.match(
    planOverlay(baseModel({ sandboxes: [bad], remotes: [] }))
      .problems.map((p) => p.message)
      .join('\n'),
    /"wlan0" is not eth<N>/,
  );
});
