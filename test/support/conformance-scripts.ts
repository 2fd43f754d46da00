/**
 * Conformance scripts for the routing-netlink layer: each script is a sequence of Rtnl and
 * NetnsManager operations over two namespaces (a and b). The runner records every
 * operation's outcome (ok, a returned value, or the error's code and errno) and dumps of
 * both namespaces at checkpoints into a transcript. test/kernel/conformance/ runs each
 * script against the FakeKernel and against the real kernel and requires identical
 * transcripts; test/unit/kernel/ runs them against the fake alone.
 *
 * A script records only what the kernel decides deterministically: no ifindexes, no
 * kernel-chosen MACs (compare them with each other instead), no events. Addresses are
 * from private and documentation blocks; namespaces are the two the runner made.
 */
import { isShoalError, ShoalError } from '../../src/common/errors.ts';
import { linkText } from '../../src/kernel/canonical.ts';
import { dumpRtnl } from '../../src/kernel/dump.ts';
import type { Link, NetnsManager, Rtnl } from '../../src/kernel/types.ts';

export interface ConformanceNames {
  a: string;
  b: string;
}

export interface ConformanceContext {
  netns: NetnsManager;
  /** A handle on a namespace, opened once per run and closed by the runner. */
  rtnl(ns: string): Promise<Rtnl>;
  names: ConformanceNames;
  /** Runs one operation and records `label: outcome`; a ShoalError is an outcome, not a failure. */
  step(label: string, op: () => Promise<unknown>): Promise<void>;
  /** Records the dumps of both namespaces. */
  checkpoint(label: string): Promise<void>;
}

export type ConformanceScript = (ctx: ConformanceContext) => Promise<void>;

export interface ConformanceEnv {
  netns: NetnsManager;
  openRtnl(ns: string): Promise<Rtnl>;
  names: ConformanceNames;
}

export interface ConformanceResult {
  transcript: string;
  /** The final dumps. */
  dumps: { a: string; b: string };
}

/** Tables the scripts use; dumps list them all. */
export const CONFORMANCE_TABLES: readonly number[] = [254, 100];

function formatOutcome(value: unknown): string {
  if (value === undefined) return 'ok';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(formatOutcome).join(', ')}]`;
  if (typeof value === 'object' && value !== null && 'kind' in value && 'mtu' in value) return linkText(value as Link);
  return JSON.stringify(value);
}

/** Creates both namespaces, runs the script, dumps both namespaces, closes the handles. */
export async function runConformanceScript(script: ConformanceScript, env: ConformanceEnv): Promise<ConformanceResult> {
  const lines: string[] = [];
  const handles = new Map<string, Rtnl>();
  const rtnl = async (ns: string): Promise<Rtnl> => {
    let h = handles.get(ns);
    if (!h) {
      h = await env.openRtnl(ns);
      handles.set(ns, h);
    }
    return h;
  };
  const dumps = async (): Promise<{ a: string; b: string }> => ({
    a: await dumpRtnl(await rtnl(env.names.a), { tables: CONFORMANCE_TABLES }),
    b: await dumpRtnl(await rtnl(env.names.b), { tables: CONFORMANCE_TABLES }),
  });
  try {
    await env.netns.create(env.names.a);
    await env.netns.create(env.names.b);
    const ctx: ConformanceContext = {
      netns: env.netns,
      rtnl,
      names: env.names,
      async step(label, op) {
        try {
          lines.push(`${label}: ${formatOutcome(await op())}`);
        } catch (err) {
          if (!isShoalError(err)) throw err;
          lines.push(`${label}: error ${err.code} ${err.errno ?? '-'}`);
        }
      },
      async checkpoint(label) {
        const d = await dumps();
        lines.push(`== ${label}`, '[a]', d.a, '[b]', d.b, '==');
      },
    };
    await script(ctx);
    const final = await dumps();
    return { transcript: lines.join('\n'), dumps: final };
  } finally {
    for (const h of handles.values()) h.close();
  }
}

// ---------------------------------------------------------------------------------------
// Helpers for scripts

const VXLAN_STATIC = { learning: false, proxy: true, l2miss: true, l3miss: true } as const;

async function linkOf(r: Rtnl, name: string): Promise<Link> {
  const l = await r.getLink(name);
  if (!l) throw new ShoalError('SHOAL_ERR_NOT_FOUND', `link ${name} is missing`);
  return l;
}

/** `true` when a bridge's MAC is the smallest of its ports' MACs (what the kernel picks). */
async function bridgeMacFollowsPorts(r: Rtnl, bridge: string): Promise<string> {
  const links = await r.listLinks();
  const br = links.find((l) => l.name === bridge);
  const ports = links
    .filter((l) => l.master === bridge)
    .map((l) => l.mac)
    .sort();
  if (!br) return 'no bridge';
  if (ports.length === 0) return `no ports, mac ${br.mac}`;
  return br.mac === ports[0] ? 'smallest port mac' : 'other mac';
}

// ---------------------------------------------------------------------------------------
// The scripts

/** Docker's static overlay: bridge + vxlan (nolearning proxy l2miss l3miss), neigh and fdb per remote endpoint. */
const overlayStatic: ConformanceScript = async ({ rtnl, names, step, checkpoint }) => {
  const a = await rtnl(names.a);
  const b = await rtnl(names.b);
  await step('a: add bridge br0', () => a.addLink({ name: 'br0', kind: 'bridge' }));
  await step('a: add 10.0.1.1/24 to br0 while down', () => a.addAddress({ link: 'br0', address: '10.0.1.1', prefixLen: 24 }));
  await step('a: add fd00:1::1/64 to br0 while down', () => a.addAddress({ link: 'br0', address: 'fd00:1::1', prefixLen: 64 }));
  await checkpoint('addresses on a down bridge give no routes');
  await step('a: br0 up', () => a.setLink('br0', { up: true }));
  await step('a: add vx4097', () =>
    a.addLink({ name: 'vx4097', kind: 'vxlan', mtu: 1450, master: 'br0', up: true, vxlan: { vni: 4097, dstport: 4789, ...VXLAN_STATIC } }),
  );
  await step('a: br0 follows its port mtu', async () => (await linkOf(a, 'br0')).mtu);
  await step('a: br0 mac', () => bridgeMacFollowsPorts(a, 'br0'));
  for (const [ip, mac, vtep] of [
    ['10.0.1.5', '02:42:0a:00:01:05', '192.0.2.12'],
    ['10.0.1.6', '02:42:0a:00:01:06', '192.0.2.13'],
  ] as const) {
    await step(`a: neigh ${ip}`, () => a.setNeighbor({ link: 'vx4097', address: ip, lladdr: mac, state: 'permanent' }));
    await step(`a: fdb ${mac} dst ${vtep}`, () => a.setFdb({ link: 'vx4097', mac, dst: vtep, self: true, permanent: true }));
  }
  await step('a: neigh fd00:1::5', () => a.setNeighbor({ link: 'vx4097', address: 'fd00:1::5', lladdr: '02:42:0a:00:01:05' }));
  await step('a: flood entry to 192.0.2.12', () =>
    a.setFdb({ link: 'vx4097', mac: '00:00:00:00:00:00', dst: '192.0.2.12', self: true, permanent: true }),
  );
  await step('a: flood entry to 192.0.2.13', () =>
    a.setFdb({ link: 'vx4097', mac: '00:00:00:00:00:00', dst: '192.0.2.13', self: true, permanent: true }),
  );
  await step('a: flood entry to 192.0.2.12 again', () =>
    a.setFdb({ link: 'vx4097', mac: '00:00:00:00:00:00', dst: '192.0.2.12', self: true, permanent: true }),
  );
  await step('a: veth vb-1 with peer eth0 in b', () =>
    a.addLink({
      name: 'vb-1',
      kind: 'veth',
      mtu: 1450,
      master: 'br0',
      up: true,
      veth: { peerName: 'eth0', peerNetns: names.b, peerMac: '02:42:0a:00:01:02' },
    }),
  );
  await step('b: eth0 mtu is the veth mtu', async () => (await linkOf(b, 'eth0')).mtu);
  await step('b: eth0 mac as given', async () => (await linkOf(b, 'eth0')).mac);
  await step('b: add 10.0.1.2/24 to eth0', () => b.addAddress({ link: 'eth0', address: '10.0.1.2', prefixLen: 24 }));
  await step('b: add fd00:1::2/64 to eth0', () => b.addAddress({ link: 'eth0', address: 'fd00:1::2', prefixLen: 64 }));
  await step('b: eth0 up', () => b.setLink('eth0', { up: true }));
  await step('b: lo up', () => b.setLink('lo', { up: true }));
  await step('b: default via 10.0.1.1', () => b.addRoute({ family: 4, dst: 'default', gateway: '10.0.1.1' }));
  await step('b: default -6 via fd00:1::1', () => b.addRoute({ family: 6, dst: 'default', gateway: 'fd00:1::1' }));
  await checkpoint('overlay programmed');

  await step('a: add vx4097 again', () =>
    a.addLink({ name: 'vx4097', kind: 'vxlan', vxlan: { vni: 4097, dstport: 4789, ...VXLAN_STATIC } }),
  );
  await step('a: add vx-dup with the same VNI and port', () =>
    a.addLink({ name: 'vx-dup', kind: 'vxlan', vxlan: { vni: 4097, dstport: 4789, ...VXLAN_STATIC } }),
  );
  await step('a: add vx-other with the same VNI on another port', () =>
    a.addLink({ name: 'vx-other', kind: 'vxlan', vxlan: { vni: 4097, dstport: 4790, ...VXLAN_STATIC } }),
  );
  await step('a: replace neigh 10.0.1.5', () => a.setNeighbor({ link: 'vx4097', address: '10.0.1.5', lladdr: '02:42:0a:00:01:55' }));
  await step('a: delete missing neigh', () => a.deleteNeighbor({ link: 'vx4097', address: '10.0.1.99' }));
  await step('a: delete missing fdb', () => a.deleteFdb({ link: 'vx4097', mac: '02:42:0a:00:01:99', self: true }));
  await step('a: delete flood entry to a VTEP it does not have', () =>
    a.deleteFdb({ link: 'vx4097', mac: '00:00:00:00:00:00', dst: '192.0.2.99', self: true }),
  );
  await step('a: delete flood entry to 192.0.2.13', () =>
    a.deleteFdb({ link: 'vx4097', mac: '00:00:00:00:00:00', dst: '192.0.2.13', self: true }),
  );
  await step('a: delete fdb 02:42:0a:00:01:06 with the wrong VTEP', () =>
    a.deleteFdb({ link: 'vx4097', mac: '02:42:0a:00:01:06', dst: '192.0.2.99', self: true }),
  );
  await step('a: neigh on a missing link', () => a.setNeighbor({ link: 'vx9999', address: '10.0.1.7', lladdr: '02:42:0a:00:01:07' }));
  await checkpoint('after replacements and deletions');

  await step('a: vx4097 down', () => a.setLink('vx4097', { up: false }));
  await checkpoint('a down vxlan loses its neighbours, keeps permanent fdb entries');
  await step('a: vx4097 up', () => a.setLink('vx4097', { up: true }));
  await step('a: delete vx4097', () => a.deleteLink('vx4097'));
  await step('a: delete vx4097 again', () => a.deleteLink('vx4097'));
  await step('a: br0 mtu after its vxlan port left', async () => (await linkOf(a, 'br0')).mtu);
  await step('b: delete eth0', () => b.deleteLink('eth0'));
  await step('a: vb-1 went with its peer', async () => (await a.getLink('vb-1')) === undefined);
  await step('a: br0 without ports', async () => {
    const br = await linkOf(a, 'br0');
    return `mtu ${br.mtu} mac ${br.mac}`;
  });
};

/** A VXLAN moved between namespaces keeps its permanent fdb entries; a unicast MAC's VTEP changes. */
const vxlanMoveAndFdb: ConformanceScript = async ({ rtnl, names, step, checkpoint }) => {
  const a = await rtnl(names.a);
  const b = await rtnl(names.b);
  await step('a: add vx300', () =>
    a.addLink({ name: 'vx300', kind: 'vxlan', vxlan: { vni: 300, dstport: 4789, local: '192.0.2.11', ttl: 64, ...VXLAN_STATIC } }),
  );
  await step('a: vx300 as read back', () => linkOf(a, 'vx300'));
  await step('a: vx300 up', () => a.setLink('vx300', { up: true }));
  await step('a: fdb permanent', () => a.setFdb({ link: 'vx300', mac: '02:42:0a:00:03:05', dst: '192.0.2.12', self: true }));
  await step('a: fdb flood', () => a.setFdb({ link: 'vx300', mac: '00:00:00:00:00:00', dst: '192.0.2.12' }));
  await step('a: neigh', () => a.setNeighbor({ link: 'vx300', address: '10.0.3.5', lladdr: '02:42:0a:00:03:05' }));
  await step('a: add 10.0.3.1/24 to vx300', () => a.addAddress({ link: 'vx300', address: '10.0.3.1', prefixLen: 24 }));
  await checkpoint('vx300 programmed in a');
  await step('a: move vx300 to b as vx-ov', () => a.setLink('vx300', { netns: names.b, name: 'vx-ov' }));
  await step('a: vx300 is gone', async () => (await a.getLink('vx300')) === undefined);
  await step('b: vx-ov as read back', () => linkOf(b, 'vx-ov'));
  await checkpoint('after the move');
  await step('a: add vx301 with VNI 300 (vx-ov was created here)', () =>
    a.addLink({ name: 'vx301', kind: 'vxlan', vxlan: { vni: 300, dstport: 4789, ...VXLAN_STATIC } }),
  );
  await step('b: add vx-b with VNI 300', () =>
    b.addLink({ name: 'vx-b', kind: 'vxlan', vxlan: { vni: 300, dstport: 4789, ...VXLAN_STATIC } }),
  );
  await step('b: vx-ov up', () => b.setLink('vx-ov', { up: true }));
  await step('b: the unicast MAC moves to VTEP 192.0.2.14', () =>
    b.setFdb({ link: 'vx-ov', mac: '02:42:0a:00:03:05', dst: '192.0.2.14', self: true }),
  );
  await step('b: the unicast MAC as listed', async () =>
    (await b.listFdb({ link: 'vx-ov' })).filter((f) => f.mac === '02:42:0a:00:03:05').map((f) => f.dst ?? '-'),
  );
  await step('b: flood entry to 192.0.2.14', () => b.setFdb({ link: 'vx-ov', mac: '00:00:00:00:00:00', dst: '192.0.2.14', self: true }));
  await step('b: delete the flood MAC without a VTEP', () => b.deleteFdb({ link: 'vx-ov', mac: '00:00:00:00:00:00', self: true }));
  await step('b: delete the unicast MAC without a VTEP', () => b.deleteFdb({ link: 'vx-ov', mac: '02:42:0a:00:03:05', self: true }));
  await step('b: fdb on a missing link', () => b.setFdb({ link: 'vx-none', mac: '02:42:0a:00:03:06', dst: '192.0.2.12', self: true }));
  await step('b: move vx-ov back to a while a has a link of that name', async () => {
    await a.addLink({ name: 'vx-ov', kind: 'vxlan', vxlan: { vni: 301, dstport: 4789, ...VXLAN_STATIC } });
    return b.setLink('vx-ov', { netns: names.a });
  });
  await step('b: move vx-ov to a missing namespace', () => b.setLink('vx-ov', { netns: `${names.a}-missing` }));
  await checkpoint('end');
};

/** Link attributes, renames, masters, bridge MTU and MAC rules, and the errors of each. */
const linkLifecycle: ConformanceScript = async ({ rtnl, names, step, checkpoint }) => {
  const a = await rtnl(names.a);
  await step('a: lo as created', () => linkOf(a, 'lo'));
  await step('a: add veth v0 peer v1', () => a.addLink({ name: 'v0', kind: 'veth', veth: { peerName: 'v1' } }));
  await step('a: v0 and v1 point at each other', async () => {
    const v0 = await linkOf(a, 'v0');
    const v1 = await linkOf(a, 'v1');
    return v0.peerIndex === v1.index && v1.peerIndex === v0.index;
  });
  await step('a: v0 as created', () => linkOf(a, 'v0'));
  await step('a: v0 mtu 1400', () => a.setLink('v0', { mtu: 1400 }));
  await step('a: v0 mac', () => a.setLink('v0', { mac: '02:00:00:00:00:10' }));
  await step('a: v0 mac as read back', async () => (await linkOf(a, 'v0')).mac);
  await step('a: v0 up', () => a.setLink('v0', { up: true }));
  await step('a: rename v0 to v0x while up', () => a.setLink('v0', { name: 'v0x' }));
  await step('a: v0x as read back', () => linkOf(a, 'v0x'));
  await step('a: add bridge br1 with mtu 9000', () => a.addLink({ name: 'br1', kind: 'bridge', mtu: 9000 }));
  await step('a: br1 mac before ports', async () => ((await linkOf(a, 'br1')).mac === '00:00:00:00:00:00' ? 'zero' : 'set'));
  await step('a: enslave v0x to br1', () => a.setLink('v0x', { master: 'br1' }));
  await step('a: br1 mtu follows v0x', async () => (await linkOf(a, 'br1')).mtu);
  await step('a: br1 mac', () => bridgeMacFollowsPorts(a, 'br1'));
  await step('a: enslave v1 to br1', () => a.setLink('v1', { master: 'br1' }));
  await step('a: br1 mac with two ports', () => bridgeMacFollowsPorts(a, 'br1'));
  await step('a: v1 mtu 1300', () => a.setLink('v1', { mtu: 1300 }));
  await step('a: br1 mtu follows the smallest port', async () => (await linkOf(a, 'br1')).mtu);
  await step('a: br1 mtu 1500 by hand', () => a.setLink('br1', { mtu: 1500 }));
  await step('a: v1 mtu 1280', () => a.setLink('v1', { mtu: 1280 }));
  await step('a: br1 keeps the mtu set by hand', async () => (await linkOf(a, 'br1')).mtu);
  await step('a: enslave v1 to br1 again', () => a.setLink('v1', { master: 'br1' }));
  await checkpoint('bridge with two ports');
  await step('a: release v1', () => a.setLink('v1', { master: null }));
  await step('a: release v1 again', () => a.setLink('v1', { master: null }));
  await step('a: add veth v0x again', () => a.addLink({ name: 'v0x', kind: 'veth', veth: { peerName: 'v9' } }));
  await step('a: add veth whose peer name exists', () => a.addLink({ name: 'v5', kind: 'veth', veth: { peerName: 'v1' } }));
  await step('a: v5 was not created', async () => (await a.getLink('v5')) === undefined);
  await step('a: set a missing link', () => a.setLink('nolink', { up: true }));
  await step('a: master is missing', () => a.setLink('v1', { master: 'nobr' }));
  await step('a: master is not a bridge', () => a.setLink('v1', { master: 'v0x' }));
  await step('a: add veth v6 with a master that is not a bridge', () =>
    a.addLink({ name: 'v6', kind: 'veth', master: 'v1', veth: { peerName: 'v7' } }),
  );
  await step('a: v6 and v7 were not created', async () => (await a.getLink('v6')) === undefined && (await a.getLink('v7')) === undefined);
  await step('a: add bridge br2', () => a.addLink({ name: 'br2', kind: 'bridge' }));
  await step('a: bridge into a bridge', () => a.setLink('br2', { master: 'br1' }));
  await step('a: lo into a bridge', () => a.setLink('lo', { master: 'br1' }));
  await step('a: rename v1 to an existing name', () => a.setLink('v1', { name: 'v0x' }));
  await step('a: multicast mac', () => a.setLink('v1', { mac: '01:00:5e:00:00:01' }));
  await step('a: all-zero mac', () => a.setLink('v1', { mac: '00:00:00:00:00:00' }));
  await step('a: create with a multicast mac', () => a.addLink({ name: 'br3', kind: 'bridge', mac: '33:33:00:00:00:01' }));
  await step('a: move br1 to b', () => a.setLink('br1', { netns: names.b }));
  await step('a: move lo to b', () => a.setLink('lo', { netns: names.b }));
  await step('a: delete lo', () => a.deleteLink('lo'));
  await step('a: delete a missing link', () => a.deleteLink('nolink'));
  await step('a: bad name', () => a.addLink({ name: 'a-name-that-is-too-long', kind: 'bridge' }));
  await step('a: bad mtu', () => a.setLink('v1', { mtu: 40 }));
  await step('a: add bridge br4 with a mac', () => a.addLink({ name: 'br4', kind: 'bridge', mac: '02:00:00:00:00:44', up: true }));
  await step('a: enslave v1 to br4', () => a.setLink('v1', { master: 'br4' }));
  await step('a: br4 keeps the mac it was given', async () => (await linkOf(a, 'br4')).mac);
  await step('a: br4 mtu follows v1', async () => (await linkOf(a, 'br4')).mtu);
  await step('a: set v1 up and mtu 1500 together', () => a.setLink('v1', { up: true, mtu: 1500 }));
  await checkpoint('before deletions');
  await step('a: delete br1', () => a.deleteLink('br1'));
  await step('a: v0x after its bridge went', () => linkOf(a, 'v0x'));
  await step('a: delete v0x', () => a.deleteLink('v0x'));
  await step('a: v1 went with its peer', async () => (await a.getLink('v1')) === undefined);
  await step('a: br4 without ports', async () => {
    const br = await linkOf(a, 'br4');
    return `mtu ${br.mtu} mac ${br.mac}`;
  });
};

/** Addresses and routes: connected routes, secondaries, gateways, tables, and what deletions take with them. */
const addressesAndRoutes: ConformanceScript = async ({ rtnl, names, step, checkpoint }) => {
  const a = await rtnl(names.a);
  await step('a: add bridge br0', () => a.addLink({ name: 'br0', kind: 'bridge' }));
  await step('a: add bridge br9 (stays down)', () => a.addLink({ name: 'br9', kind: 'bridge' }));
  await step('a: 10.1.0.1/24 on br0', () => a.addAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 24 }));
  await step('a: fd00:10::1/64 on br0', () => a.addAddress({ link: 'br0', address: 'fd00:10::1', prefixLen: 64 }));
  await step('a: br0 up', () => a.setLink('br0', { up: true }));
  await step('a: 10.1.0.2/24 on br0 (secondary)', () => a.addAddress({ link: 'br0', address: '10.1.0.2', prefixLen: 24 }));
  await step('a: 10.1.0.1/16 on br0', () => a.addAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 16 }));
  await step('a: 10.9.9.9/32 on br0', () => a.addAddress({ link: 'br0', address: '10.9.9.9', prefixLen: 32 }));
  await step('a: 10.7.0.1/31 on br0', () => a.addAddress({ link: 'br0', address: '10.7.0.1', prefixLen: 31 }));
  await step('a: fd00:10::9/128 on br0', () => a.addAddress({ link: 'br0', address: 'fd00:10::9', prefixLen: 128 }));
  await step('a: fd00:11:0:0::1/64 on br0 (non-canonical text)', () =>
    a.addAddress({ link: 'br0', address: 'fd00:11:0:0::1', prefixLen: 64 }),
  );
  await step('a: 10.1.0.1/24 again', () => a.addAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 24 }));
  await step('a: fd00:10::1/80 (same IPv6 address)', () => a.addAddress({ link: 'br0', address: 'fd00:10::1', prefixLen: 80 }));
  await step('a: address on a missing link', () => a.addAddress({ link: 'nolink', address: '10.1.0.3', prefixLen: 24 }));
  await step('a: addresses of br9', () => a.listAddresses('br9'));
  await checkpoint('addresses');

  await step('a: 10.20.0.0/16 via 10.1.0.254', () => a.addRoute({ family: 4, dst: '10.20.0.0/16', gateway: '10.1.0.254' }));
  await step('a: 10.20.0.0/16 via 10.1.0.253 metric 10', () =>
    a.addRoute({ family: 4, dst: '10.20.0.0/16', gateway: '10.1.0.253', metric: 10 }),
  );
  await step('a: 10.21.0.1/32 dev br0', () => a.addRoute({ family: 4, dst: '10.21.0.1/32', dev: 'br0' }));
  await step('a: 10.1.0.128/25 via 10.1.0.7', () => a.addRoute({ family: 4, dst: '10.1.0.128/25', gateway: '10.1.0.7' }));
  await step('a: 10.24.0.0/16 via 10.1.0.200 (longest match is via a gateway)', () =>
    a.addRoute({ family: 4, dst: '10.24.0.0/16', gateway: '10.1.0.200' }),
  );
  await step('a: default via 10.1.0.254', () => a.addRoute({ family: 4, dst: 'default', gateway: '10.1.0.254' }));
  await step('a: 10.22.0.0/16 via 10.1.0.254 table 100', () =>
    a.addRoute({ family: 4, dst: '10.22.0.0/16', gateway: '10.1.0.254', table: 100 }),
  );
  await step('a: 10.25.0.0/16 via 10.22.0.5 table 100', () =>
    a.addRoute({ family: 4, dst: '10.25.0.0/16', gateway: '10.22.0.5', table: 100 }),
  );
  await step('a: 10.23.0.0/16 dev br0 src 10.1.0.1', () => a.addRoute({ family: 4, dst: '10.23.0.0/16', dev: 'br0', src: '10.1.0.1' }));
  await step('a: 10.26.0.0/16 via a local address', () => a.addRoute({ family: 4, dst: '10.26.0.0/16', gateway: '10.1.0.2' }));
  await step('a: fd00:20::/64 via fd00:10::fe', () => a.addRoute({ family: 6, dst: 'fd00:20::/64', gateway: 'fd00:10::fe' }));
  await step('a: fd00:21::/64 dev br0 table 100', () => a.addRoute({ family: 6, dst: 'fd00:21::/64', dev: 'br0', table: 100 }));
  await step('a: fd00:22::/64 via fd00:21::5 table 100', () =>
    a.addRoute({ family: 6, dst: 'fd00:22::/64', gateway: 'fd00:21::5', table: 100 }),
  );
  await step('a: fd00:23::/64 dev br0 metric 50', () => a.addRoute({ family: 6, dst: 'fd00:23::/64', dev: 'br0', metric: 50 }));
  await step('a: default -6 via fd00:10::fe', () => a.addRoute({ family: 6, dst: 'default', gateway: 'fd00:10::fe' }));
  await checkpoint('routes');

  await step('a: 10.20.0.0/16 via 10.1.0.5 (same metric)', () => a.addRoute({ family: 4, dst: '10.20.0.0/16', gateway: '10.1.0.5' }));
  await step('a: 10.1.0.0/24 dev br0 (the connected route)', () => a.addRoute({ family: 4, dst: '10.1.0.0/24', dev: 'br0' }));
  await step('a: gateway not reachable', () => a.addRoute({ family: 4, dst: '10.30.0.0/16', gateway: '10.99.0.1' }));
  await step('a: gateway through another gateway', () => a.addRoute({ family: 4, dst: '10.31.0.0/16', gateway: '10.20.0.5' }));
  await step('a: gateway on another device', () => a.addRoute({ family: 4, dst: '10.32.0.0/16', gateway: '10.1.0.5', dev: 'br9' }));
  await step('a: device down', () => a.addRoute({ family: 4, dst: '10.33.0.0/16', dev: 'br9' }));
  await step('a: IPv6 device down', () => a.addRoute({ family: 6, dst: 'fd00:33::/64', dev: 'br9' }));
  await step('a: source not local', () => a.addRoute({ family: 4, dst: '10.34.0.0/16', dev: 'br0', src: '10.99.0.1' }));
  await step('a: device missing', () => a.addRoute({ family: 4, dst: '10.35.0.0/16', dev: 'nolink' }));
  await step('a: host bits set', () => a.addRoute({ family: 4, dst: '10.36.0.1/16', dev: 'br0' }));
  await step('a: IPv6 gateway not on link (default route is via a gateway)', () =>
    a.addRoute({ family: 6, dst: 'fd00:30::/64', gateway: 'fd00:99::1' }),
  );
  await step('a: IPv6 gateway is local', () => a.addRoute({ family: 6, dst: 'fd00:31::/64', gateway: 'fd00:10::1' }));
  await step('a: fd00:20::/64 again with another gateway', () => a.addRoute({ family: 6, dst: 'fd00:20::/64', gateway: 'fd00:10::fd' }));
  await step('a: fd00:20::/64 metric 2000', () => a.addRoute({ family: 6, dst: 'fd00:20::/64', gateway: 'fd00:10::fd', metric: 2000 }));

  await step('a: delete a missing route', () => a.deleteRoute({ family: 4, dst: '10.99.0.0/16', dev: 'br0' }));
  await step('a: delete the connected route', () => a.deleteRoute({ family: 4, dst: '10.1.0.0/24', dev: 'br0' }));
  await step('a: delete 10.20.0.0/16 metric 10', () =>
    a.deleteRoute({ family: 4, dst: '10.20.0.0/16', gateway: '10.1.0.253', metric: 10 }),
  );
  await step('a: delete 10.20.0.0/16 with the wrong gateway', () =>
    a.deleteRoute({ family: 4, dst: '10.20.0.0/16', gateway: '10.1.0.77' }),
  );
  await step('a: delete fd00:20::/64 without a metric', () => a.deleteRoute({ family: 6, dst: 'fd00:20::/64', gateway: 'fd00:10::fe' }));
  await step('a: delete 10.22.0.0/16 from main (it is in table 100)', () =>
    a.deleteRoute({ family: 4, dst: '10.22.0.0/16', gateway: '10.1.0.254' }),
  );
  await step('a: delete a route on a missing device', () => a.deleteRoute({ family: 4, dst: '10.21.0.1/32', dev: 'nolink' }));
  await step('a: routes of table 100, IPv6', () => a.listRoutes({ table: 100, family: 6 }).then((rs) => rs.map((r) => r.dst)));
  await checkpoint('after route errors and deletions');

  await step('a: delete 10.1.0.1/24 (primary)', () => a.deleteAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 24 }));
  await step('a: 10.1.0.2/24 went with its primary', async () => (await a.listAddresses('br0')).some((x) => x.address === '10.1.0.2'));
  await step('a: delete 10.1.0.1/24 again', () => a.deleteAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 24 }));
  await step('a: delete fd00:10::1/80 (wrong prefix)', () => a.deleteAddress({ link: 'br0', address: 'fd00:10::1', prefixLen: 80 }));
  await step('a: delete fd00:10::9/128', () => a.deleteAddress({ link: 'br0', address: 'fd00:10::9', prefixLen: 128 }));
  await step('a: delete fd00:11::1/64', () => a.deleteAddress({ link: 'br0', address: 'fd00:11::1', prefixLen: 64 }));
  await step('a: delete an address of a missing link', () => a.deleteAddress({ link: 'nolink', address: '10.1.0.3', prefixLen: 24 }));
  await checkpoint('after address deletions');

  await step('a: br0 down', () => a.setLink('br0', { up: false }));
  await checkpoint('a down link keeps IPv4 addresses only');
  await step('a: br0 up', () => a.setLink('br0', { up: true }));
  await step('a: fd00:10::1/64 on br0 again', () => a.addAddress({ link: 'br0', address: 'fd00:10::1', prefixLen: 64 }));
  await step('a: 10.23.0.0/16 dev br0 src 10.9.9.9', () => a.addRoute({ family: 4, dst: '10.23.0.0/16', dev: 'br0', src: '10.9.9.9' }));
  await step('a: 10.20.0.0/16 via 10.1.0.254', () => a.addRoute({ family: 4, dst: '10.20.0.0/16', gateway: '10.1.0.254' }));
  await step('a: neigh 10.1.0.5', () => a.setNeighbor({ link: 'br0', address: '10.1.0.5', lladdr: '02:00:00:00:01:05' }));
  await step('a: neigh fd00:10::5', () =>
    a.setNeighbor({ link: 'br0', address: 'fd00:10::5', lladdr: '02:00:00:00:01:05', state: 'noarp' }),
  );
  await checkpoint('after up');
  await step('a: delete 10.9.9.9/32 (takes the route preferring it)', () =>
    a.deleteAddress({ link: 'br0', address: '10.9.9.9', prefixLen: 32 }),
  );
  await step('a: routes of main, IPv4', () => a.listRoutes({ family: 4 }).then((rs) => rs.map((r) => r.dst)));
  await step('a: delete 10.7.0.1/31', () => a.deleteAddress({ link: 'br0', address: '10.7.0.1', prefixLen: 31 }));
  await step('a: delete 10.1.0.1/16 (the last IPv4 address)', () => a.deleteAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 16 }));
  await checkpoint('the last IPv4 address took IPv4 routes and neighbours');
  await step('a: br0 mac (flushes neighbours)', () => a.setLink('br0', { mac: '02:00:00:00:00:99' }));
  // the kernel may re-create a multicast entry (ff02::16, for its own MLD report) at any
  // moment after the flush: only the unicast entries say whether the flush happened
  await step('a: neighbours after a mac change', () =>
    a.listNeighbors().then((ns) => ns.map((n) => n.address).filter((ip) => !/^(ff[0-9a-f]{2}:|22[4-9]\.|23\d\.)/i.test(ip))),
  );
  await step('a: br0 mtu 1200 (disables IPv6)', () => a.setLink('br0', { mtu: 1200 }));
  await step('a: IPv6 address on a link with mtu 1200', () => a.addAddress({ link: 'br0', address: 'fd00:10::2', prefixLen: 64 }));
  await step('a: br0 mtu 1500', () => a.setLink('br0', { mtu: 1500 }));
  await step('a: 10.1.0.1/24 on br0', () => a.addAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 24 }));
  await step('a: 10.40.0.0/16 via 10.1.0.254 table 100', () =>
    a.addRoute({ family: 4, dst: '10.40.0.0/16', gateway: '10.1.0.254', table: 100 }),
  );
  await step('a: delete br0', () => a.deleteLink('br0'));
  await checkpoint('end');
};

/** A veth pair across namespaces: peer creation, moves, and deletion of either end. */
const vethAcrossNamespaces: ConformanceScript = async ({ netns, rtnl, names, step, checkpoint }) => {
  const a = await rtnl(names.a);
  const b = await rtnl(names.b);
  await step('b: lo up', () => b.setLink('lo', { up: true }));
  await step('b: lo addresses', () => b.listAddresses('lo').then((xs) => xs.map((x) => `${x.address}/${x.prefixLen}`)));
  await step('a: veth va with peer vb in b', () =>
    a.addLink({ name: 'va', kind: 'veth', up: true, veth: { peerName: 'vb', peerNetns: names.b } }),
  );
  await step('b: vb as created', () => linkOf(b, 'vb'));
  await step('a: va as created', () => linkOf(a, 'va'));
  await step(
    'a: va and vb point at each other',
    async () =>
      (await linkOf(a, 'va')).peerIndex === (await linkOf(b, 'vb')).index &&
      (await linkOf(b, 'vb')).peerIndex === (await linkOf(a, 'va')).index,
  );
  await step('a: 172.16.0.1/30 on va', () => a.addAddress({ link: 'va', address: '172.16.0.1', prefixLen: 30 }));
  await step('b: 172.16.0.2/30 on vb', () => b.addAddress({ link: 'vb', address: '172.16.0.2', prefixLen: 30 }));
  await step('b: vb up', () => b.setLink('vb', { up: true }));
  await step('b: default via 172.16.0.1', () => b.addRoute({ family: 4, dst: 'default', gateway: '172.16.0.1' }));
  await step('b: 172.17.0.0/16 via 172.16.0.1 table 100', () =>
    b.addRoute({ family: 4, dst: '172.17.0.0/16', gateway: '172.16.0.1', table: 100 }),
  );
  await step('a: 172.18.0.0/16 via 172.16.0.2', () => a.addRoute({ family: 4, dst: '172.18.0.0/16', gateway: '172.16.0.2' }));
  await step('b: neigh 172.16.0.1', () => b.setNeighbor({ link: 'vb', address: '172.16.0.1', lladdr: '02:00:00:00:10:01' }));
  await checkpoint('pair programmed');
  await step('a: delete va', () => a.deleteLink('va'));
  await step('b: vb went with its peer', async () => (await b.getLink('vb')) === undefined);
  await checkpoint('after deleting one end');

  await step('a: veth vc with peer vd in b', () => a.addLink({ name: 'vc', kind: 'veth', veth: { peerName: 'vd', peerNetns: names.b } }));
  await step('a: veth ve with peer vd in b (exists there)', () =>
    a.addLink({ name: 've', kind: 'veth', veth: { peerName: 'vd', peerNetns: names.b } }),
  );
  await step('a: ve was not created', async () => (await a.getLink('ve')) === undefined);
  await step('a: veth with a peer in a missing namespace', () =>
    a.addLink({ name: 've', kind: 'veth', veth: { peerName: 'vf', peerNetns: `${names.b}-missing` } }),
  );
  await step('b: delete vd', () => b.deleteLink('vd'));
  await step('a: vc went with its peer', async () => (await a.getLink('vc')) === undefined);

  await step('a: veth m0 peer m1', () => a.addLink({ name: 'm0', kind: 'veth', up: true, veth: { peerName: 'm1' } }));
  await step('a: bridge brm', () => a.addLink({ name: 'brm', kind: 'bridge', up: true }));
  await step('a: enslave m0 to brm', () => a.setLink('m0', { master: 'brm' }));
  await step('a: 10.50.0.1/24 on m0', () => a.addAddress({ link: 'm0', address: '10.50.0.1', prefixLen: 24 }));
  await step('a: 10.51.0.0/16 via 10.50.0.9 table 100', () =>
    a.addRoute({ family: 4, dst: '10.51.0.0/16', gateway: '10.50.0.9', table: 100 }),
  );
  await step('a: neigh 10.50.0.9 on m0', () => a.setNeighbor({ link: 'm0', address: '10.50.0.9', lladdr: '02:00:00:00:50:09' }));
  await step('a: fdb on m0 in brm', () => a.setFdb({ link: 'm0', mac: '02:00:00:00:50:10', master: true }));
  await step('a: fdb on m0 in brm again', () => a.setFdb({ link: 'm0', mac: '02:00:00:00:50:10', master: true }));
  await step('a: fdb on m1, not a port', () => a.setFdb({ link: 'm1', mac: '02:00:00:00:50:11', master: true }));
  await checkpoint('m0 programmed');
  await step('a: move m0 to b as eth1', () => a.setLink('m0', { netns: names.b, name: 'eth1' }));
  await step('b: eth1 as moved', () => linkOf(b, 'eth1'));
  await step('a: m1 still points at its peer', async () => (await linkOf(a, 'm1')).peerIndex === (await linkOf(b, 'eth1')).index);
  await step('a: brm without ports', async () => (await linkOf(a, 'brm')).mac);
  await checkpoint('after the move');
  await step('b: delete eth1', () => b.deleteLink('eth1'));
  await step('a: m1 went with its peer', async () => (await a.getLink('m1')) === undefined);
  await step('a: namespaces listed', async () => (await netns.list()).filter((n) => n === names.a || n === names.b));
  await step('a: namespace b exists', () => netns.exists(names.b));
  await step('a: create namespace b again', () => netns.create(names.b));
  await checkpoint('end');
};

export const conformanceScripts: Readonly<Record<string, ConformanceScript>> = Object.freeze({
  'overlay-static': overlayStatic,
  'vxlan-move-and-fdb': vxlanMoveAndFdb,
  'link-lifecycle': linkLifecycle,
  'addresses-and-routes': addressesAndRoutes,
  'veth-across-namespaces': vethAcrossNamespaces,
});
