/**
 * The overlay on the real kernel, with real packets: two "hosts" (namespaces of this
 * test) on an underlay bridge in a third namespace that also plays the outside world,
 * each running an OverlaySyncer whose host namespace is its own ('' mapped to the host's
 * name). Then:
 * - sandbox -> sandbox ping across hosts over the VXLAN overlay;
 * - a DF ping of exactly overlay MTU - 28 bytes of payload passes, one byte more fails;
 * - no ARP on the underlay (an nft counter on the underlay bridge, with the underlay's own
 *   neighbours pinned so that any ARP there would be the overlay's), none inside VXLAN
 *   either (a counter on encapsulated ARP in each host, next to one on encapsulated IPv4
 *   that must count);
 * - a sandbox on another network reaches neither the first network's sandboxes nor their
 *   egress addresses (the gateway bridge drops port-to-port traffic);
 * - the hosts track the sandboxes' masqueraded egress but no VXLAN packet;
 * - a sandbox on an internal network has no default route;
 * - a sandbox on a normal network reaches the outside address, through masquerade;
 * - a second sync, full or incremental, changes nothing (the real kernel reads back in
 *   the planner's canonical text, nftables included);
 * - 1,000 remote endpoints are programmed in one sync and read back unchanged;
 * - the empty model removes everything of ours.
 * Everything is created under this test's own prefix and removed in teardown.
 */
import { execFile, execFileSync } from 'node:child_process';
import t from 'tap';
import { createNetnsManager } from '../../../src/kernel/netns.ts';
import { openRtnl } from '../../../src/kernel/rtnl.ts';
import type { Rtnl } from '../../../src/kernel/types.ts';
import { macForAddress } from '../../../src/common/mac.ts';
import { createOverlayKernel } from '../../../src/overlay/overlay-kernel.ts';
import type { OverlayModel, RemoteEndpoint, SandboxModel } from '../../../src/overlay/model.ts';
import { egressBridgeName, hostLinkPrefix, sandboxNetnsName } from '../../../src/overlay/names.ts';
import { OverlaySyncer } from '../../../src/overlay/syncer.ts';
import { formatChanges } from '../../../src/overlay/diff.ts';
import { requireKernel, testPrefix } from '../../support/kernel.ts';

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command inside a namespace; resolves with its exit code (never rejects on a non-zero exit). */
function inNs(netns: string, cmd: string, args: string[], timeoutMs = 15_000): Promise<Exec> {
  return new Promise((resolve, reject) => {
    execFile(
      'nsenter',
      [`--net=/run/netns/${netns}`, '--', cmd, ...args],
      { encoding: 'utf8', timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') {
          reject(err);
          return;
        }
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

async function ping(netns: string, dst: string, extra: string[] = []): Promise<Exec> {
  return inNs(netns, 'ping', ['-n', '-c', '1', '-W', '2', ...extra, dst]);
}

/** Pings until one answer, up to `tries` times; the last result. */
async function pingUntil(netns: string, dst: string, tries = 3, extra: string[] = []): Promise<Exec> {
  let r: Exec = { code: 1, stdout: '', stderr: '' };
  for (let i = 0; i < tries; i++) {
    r = await ping(netns, dst, extra);
    if (r.code === 0) return r;
  }
  return r;
}

/** Packet counts of the counters of one table, in rule order. */
async function counters(netns: string, family: string, table: string): Promise<number[]> {
  const r = await inNs(netns, 'nft', ['-j', 'list', 'table', family, table]);
  const doc = JSON.parse(r.stdout) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> };
  return doc.nftables.flatMap((o) => (o.rule ? o.rule.expr.filter((e) => e.counter).map((e) => e.counter!.packets) : []));
}

const NET_A = 'aaaa0000aaaa0000aaaa';
const NET_B = 'bbbb0000bbbb0000bbbb';
const NET_C = 'cccc0000cccc0000cccc';
const UNDERLAY = { h1: '198.51.100.11', h2: '198.51.100.12', outside: '198.51.100.1' };

function sandbox(id: string, networkId: string, address: string, egress?: string): SandboxModel {
  const s: SandboxModel = { id, attachments: [{ networkId, address, mac: macForAddress(address.split('/')[0]!) }] };
  if (egress) s.egress = egress;
  return s;
}

function remoteOf(s: SandboxModel, vtep: string): RemoteEndpoint {
  const a = s.attachments[0]!;
  return { networkId: a.networkId, ip: a.address.split('/')[0]!, mac: a.mac, vtep };
}

if (requireKernel(t)) {
  t.test('two hosts, three networks, real packets', async (t) => {
    const P = testPrefix();
    const netns = createNetnsManager();
    const ns = { ul: `${P}-ul`, h1: `${P}-h1`, h2: `${P}-h2` };
    const prefixes = { h1: `${P}-h1-`, h2: `${P}-h2-` };
    const handles: Rtnl[] = [];
    t.teardown(async () => {
      for (const h of handles) h.close();
      // Whatever a failed run left: every namespace with this test's prefix.
      for (const n of await netns.list()) if (n.startsWith(`${P}-`)) await netns.delete(n);
    });
    for (const n of Object.values(ns)) await netns.create(n);
    const open = async (n: string): Promise<Rtnl> => {
      const r = await openRtnl(n);
      handles.push(r);
      return r;
    };

    // ----- the underlay: bridge ul0 (also the outside address), a veth to each host -----
    const ul = await open(ns.ul);
    await ul.setLink('lo', { up: true });
    await ul.addLink({ name: 'ul0', kind: 'bridge', mtu: 1500, up: true });
    await ul.addAddress({ link: 'ul0', address: UNDERLAY.outside, prefixLen: 24 });
    const hosts = { h1: await open(ns.h1), h2: await open(ns.h2) };
    for (const h of ['h1', 'h2'] as const) {
      await ul.addLink({ name: `p-${h}`, kind: 'veth', mtu: 1500, master: 'ul0', up: true, veth: { peerName: 'eth0', peerNetns: ns[h] } });
      await hosts[h].setLink('lo', { up: true });
      await hosts[h].setLink('eth0', { up: true });
      await hosts[h].addAddress({ link: 'eth0', address: UNDERLAY[h], prefixLen: 24 });
    }
    // Pin the underlay's own neighbours, so that any ARP on it would be the overlay's.
    const macs = {
      h1: (await hosts.h1.getLink('eth0'))!.mac,
      h2: (await hosts.h2.getLink('eth0'))!.mac,
      outside: (await ul.getLink('ul0'))!.mac,
    };
    await hosts.h1.setNeighbor({ link: 'eth0', address: UNDERLAY.h2, lladdr: macs.h2, state: 'permanent' });
    await hosts.h1.setNeighbor({ link: 'eth0', address: UNDERLAY.outside, lladdr: macs.outside, state: 'permanent' });
    await hosts.h2.setNeighbor({ link: 'eth0', address: UNDERLAY.h1, lladdr: macs.h1, state: 'permanent' });
    await hosts.h2.setNeighbor({ link: 'eth0', address: UNDERLAY.outside, lladdr: macs.outside, state: 'permanent' });
    await ul.setNeighbor({ link: 'ul0', address: UNDERLAY.h1, lladdr: macs.h1, state: 'permanent' });
    await ul.setNeighbor({ link: 'ul0', address: UNDERLAY.h2, lladdr: macs.h2, state: 'permanent' });
    const arpTable = `table bridge arpcount {
  chain pre { type filter hook prerouting priority 0; policy accept; ether type arp counter; }
  chain out { type filter hook output priority 0; policy accept; ether type arp counter; }
}
`;
    t.equal((await inNsInput(ns.ul, arpTable)).code, 0, 'ARP counters on the underlay bridge');
    // Encapsulated frames leave a host through its output hook (the VXLAN socket is in the
    // host namespace); the inner EtherType is 28 bytes into the UDP header.
    const vxTable = `table ip vxcount {
  chain out { type filter hook output priority 0; policy accept; udp dport 4789 @th,224,16 0x0806 counter; udp dport 4789 @th,224,16 0x0800 counter; }
}
`;
    for (const h of ['h1', 'h2'] as const) t.equal((await inNsInput(ns[h], vxTable)).code, 0, `VXLAN counters in ${h}`);

    // ----- the models -----
    const s1 = sandbox('s1s1s1s1s1s1s1', NET_A, '10.10.0.2/24', '172.18.0.2/16');
    const s4 = sandbox('s4s4s4s4s4s4s4', NET_C, '10.10.2.2/24');
    const s2 = sandbox('s2s2s2s2s2s2s2', NET_A, '10.10.0.3/24', '172.18.0.2/16');
    const s3 = sandbox('s3s3s3s3s3s3s3', NET_B, '10.10.1.3/24', '172.18.0.3/16');
    const netA = { id: NET_A, vni: 4097, subnet: '10.10.0.0/24', gateway: '10.10.0.1', internal: false };
    const netB = { id: NET_B, vni: 4098, subnet: '10.10.1.0/24', gateway: '10.10.1.1', internal: false };
    const netC = { id: NET_C, vni: 4099, subnet: '10.10.2.0/24', gateway: '10.10.2.1', internal: true };
    const common = { underlayMtu: 1500, dataPort: 4789, egress: { subnet: '172.18.0.0/16', gateway: '172.18.0.1' } };
    const m1: OverlayModel = {
      ...common,
      prefix: prefixes.h1,
      vtep: UNDERLAY.h1,
      networks: [netA, netC],
      sandboxes: [s1, s4],
      remotes: [remoteOf(s2, UNDERLAY.h2)],
    };
    const m2: OverlayModel = {
      ...common,
      prefix: prefixes.h2,
      vtep: UNDERLAY.h2,
      networks: [netA, netB],
      sandboxes: [s2, s3],
      remotes: [remoteOf(s1, UNDERLAY.h1)],
    };
    const k1 = createOverlayKernel(ns.h1);
    const k2 = createOverlayKernel(ns.h2);
    const sy1 = new OverlaySyncer(k1, { prefix: prefixes.h1 });
    const sy2 = new OverlaySyncer(k2, { prefix: prefixes.h2 });

    const r1 = await sy1.sync(m1, true);
    const r2 = await sy2.sync(m2, true);
    t.same(r1.failures, [], 'host 1 converges');
    t.same(r2.failures, [], 'host 2 converges');
    t.same([...r1.problems, ...r2.problems], [], 'no model problems');
    const sb = (p: string, s: SandboxModel): string => sandboxNetnsName(p, s.id);
    const [n1, n2, n3, n4] = [sb(prefixes.h1, s1), sb(prefixes.h2, s2), sb(prefixes.h2, s3), sb(prefixes.h1, s4)];

    for (const [what, sync, model] of [
      ['host 1', sy1, m1],
      ['host 2', sy2, m2],
    ] as const) {
      const full = await sync.sync(model, true);
      t.same(full.applied, [], `${what}: a second full sync applies nothing (the kernel reads back as planned)`);
      t.same(full.failures, []);
      const inc = await sync.sync(model, false);
      t.same(inc.applied, [], `${what}: an incremental one neither`);
      const drift = await sync.doctor(model);
      t.equal(formatChanges(drift), '', `${what}: doctor finds nothing`);
    }
    const hostLinks = (await hosts.h1.listLinks()).map((l) => l.name);
    t.ok(hostLinks.includes(egressBridgeName(prefixes.h1)), 'the gateway bridge is in host 1');
    // a bridge without a MAC of its own takes its smallest port's, and changes it when that
    // port goes (a task stopping would cut every sandbox's egress until ARP caught up)
    const gw = (await hosts.h1.listLinks()).find((l) => l.name === egressBridgeName(prefixes.h1));
    t.equal(gw?.mac, macForAddress('172.18.0.1'), "the gateway bridge has a MAC of its own, from the gateway's address");
    // `ip netns exec` mounts the namespace's own /sys
    const assigned = execFileSync(
      'ip',
      ['netns', 'exec', ns.h1, 'cat', `/sys/class/net/${egressBridgeName(prefixes.h1)}/addr_assign_type`],
      {
        encoding: 'utf8',
      },
    );
    t.equal(assigned.trim(), '3', 'set by us (NET_ADDR_SET): the kernel does not replace it as ports come and go');
    t.ok(
      hostLinks.every((n) => n === 'lo' || n === 'eth0' || n.startsWith(hostLinkPrefix(prefixes.h1))),
      `host 1 holds only its underlay and our links: ${hostLinks.join(' ')}`,
    );

    // ----- traffic -----
    const across = await pingUntil(n1, '10.10.0.3');
    t.equal(across.code, 0, `s1 (h1) pings s2 (h2) across the overlay${across.code ? `: ${across.stdout}${across.stderr}` : ''}`);
    t.equal((await pingUntil(n2, '10.10.0.2')).code, 0, 's2 (h2) pings s1 (h1)');
    t.equal((await pingUntil(n1, '10.10.0.1')).code, 0, "s1 pings its network's gateway");

    const fits = await ping(n1, '10.10.0.3', ['-M', 'do', '-s', String(1450 - 28)]);
    t.equal(
      fits.code,
      0,
      `a DF ping of ${1450 - 28} bytes (overlay MTU 1450 - 28) passes${fits.code ? `: ${fits.stdout}${fits.stderr}` : ''}`,
    );
    const tooBig = await ping(n1, '10.10.0.3', ['-M', 'do', '-s', String(1450 - 27)]);
    t.not(tooBig.code, 0, 'one byte more fails');

    const isolated = [await ping(n3, '10.10.0.2'), await ping(n3, '10.10.0.3'), await ping(n3, '172.18.0.2')];
    t.same(
      isolated.map((r) => r.code !== 0),
      [true, true, true],
      's3 (network B) reaches neither s1 nor s2 (network A), nor s2 across the gateway bridge',
    );
    t.equal((await pingUntil(n3, '172.18.0.1')).code, 0, 'while s3 does reach its gateway bridge (the egress path works)');
    t.not((await ping(n2, '172.18.0.3')).code, 0, 'and s2 cannot reach s3 across it either');

    const routes4 = await inNs(n4, 'ip', ['-4', 'route', 'show', 'default']);
    t.equal(routes4.stdout.trim(), '', 'the internal network sandbox has no default route');
    const out4 = await ping(n4, UNDERLAY.outside);
    t.not(out4.code, 0, 'and does not reach the outside');
    t.match(out4.stderr + out4.stdout, /unreachable/i, 'the network is unreachable from it');

    const out1 = await pingUntil(n1, UNDERLAY.outside);
    t.equal(out1.code, 0, `s1 reaches the outside ${UNDERLAY.outside} (masqueraded)${out1.code ? `: ${out1.stdout}${out1.stderr}` : ''}`);
    t.equal((await pingUntil(n3, UNDERLAY.outside)).code, 0, 's3 on host 2 too');

    // The hosts track the masqueraded egress, but not the overlay's own VXLAN packets.
    for (const h of ['h1', 'h2'] as const) {
      const ct = await inNs(ns[h], 'conntrack', ['-L']);
      t.match(ct.stdout, new RegExp(`icmp .*dst=${UNDERLAY.outside.replace(/\./g, '\\.')}`), `${h} tracks its sandboxes' egress`);
      t.notMatch(ct.stdout, /dport=4789\b/, `${h} tracks no VXLAN packet (the overlay's pings crossed it)`);
    }

    const arp = await counters(ns.ul, 'bridge', 'arpcount');
    t.same(arp, [0, 0], 'no ARP frame crossed the underlay bridge');
    for (const h of ['h1', 'h2'] as const) {
      const [encArp, encIp] = await counters(ns[h], 'ip', 'vxcount');
      t.equal(encArp, 0, `${h}: no ARP inside VXLAN`);
      t.ok((encIp ?? 0) > 0, `${h}: while ${encIp} IPv4 packets were encapsulated (the counter works)`);
    }

    // ----- 1,000 remote endpoints in one sync -----
    const many: RemoteEndpoint[] = Array.from({ length: 1000 }, (_, i) => {
      const ip = `10.20.${Math.floor(i / 250)}.${(i % 250) + 2}`;
      return { networkId: 'dddd0000dddd0000dddd', ip, mac: macForAddress(ip), vtep: `198.51.100.${20 + (i % 10)}` };
    });
    const big: OverlayModel = {
      ...m1,
      networks: [
        ...m1.networks,
        { id: 'dddd0000dddd0000dddd', vni: 5000, subnet: '10.20.0.0/16', gateway: '10.20.255.254', internal: false },
      ],
      sandboxes: [...m1.sandboxes, sandbox('s5s5s5s5s5s5s5', 'dddd0000dddd0000dddd', '10.20.255.1/16')],
      remotes: [...m1.remotes, ...many],
    };
    const started = performance.now();
    const rb = await sy1.sync(big, false);
    const ms = performance.now() - started;
    t.same(rb.failures, [], '1,000 remotes programmed without a failure');
    t.equal(rb.applied.filter((o) => o.type === 'neigh' || o.type === 'fdb').length, 2000, '2,000 entries');
    t.comment(`1,000 remotes (a new network and sandbox with them): ${ms.toFixed(0)} ms`);
    t.ok(ms < 20_000, 'in reasonable time');
    const neigh = await inNs(`${prefixes.h1}ov-dddd0000dddd`, 'ip', ['-4', 'neigh', 'show', 'dev', 'vx5000', 'nud', 'permanent']);
    t.equal(neigh.stdout.trim().split('\n').length, 1000, 'ip neigh shows the 1,000 entries');
    const again = await sy1.sync(big, true);
    t.same(again.applied, [], 'and a full resync reads all of them back as right');
    const smaller = await sy1.sync({ ...big, remotes: [...m1.remotes, ...many.slice(0, 10)] }, false);
    t.same(smaller.failures, []);
    t.equal(smaller.applied.length, 1980, 'scaling down deletes exactly the 990 endpoints that went (neighbour + fdb)');
    t.ok(
      smaller.applied.every((o) => o.kind === 'delete' && (o.type === 'neigh' || o.type === 'fdb')),
      'and nothing else',
    );

    // ----- the empty model removes everything of ours -----
    for (const [what, sync, model, k, host, prefix] of [
      ['host 1', sy1, m1, k1, hosts.h1, prefixes.h1],
      ['host 2', sy2, m2, k2, hosts.h2, prefixes.h2],
    ] as const) {
      const empty = await sync.sync({ ...model, networks: [], sandboxes: [], remotes: [] }, true);
      t.same(empty.failures, [], `${what}: torn down`);
      const left = (await k.netns.list()).filter((n) => n.startsWith(prefix));
      t.same(left, [], `${what}: no namespace of ours left`);
      const links = (await host.listLinks()).map((l) => l.name).sort();
      t.same(links, ['eth0', 'lo'], `${what}: only the underlay is left in the host namespace`);
      const tables = await inNs(ns[what === 'host 1' ? 'h1' : 'h2'], 'nft', ['list', 'tables']);
      t.notMatch(tables.stdout, /egress/, `${what}: the egress table is gone`);
    }
  });
}

/** Applies an nft script inside a namespace (stdin). */
function inNsInput(netns: string, script: string): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'nsenter',
      [`--net=/run/netns/${netns}`, '--', 'nft', '-f', '-'],
      { encoding: 'utf8', timeout: 10_000 },
      (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') {
          reject(err);
          return;
        }
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(script);
  });
}
