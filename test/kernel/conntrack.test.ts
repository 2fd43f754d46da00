/**
 * Conformance of FakeConntrack with the conntrack tool on the real kernel: the same
 * entries go into a throwaway namespace's table (`conntrack -I`, deterministic) and into
 * the fake, the same deletes run against both, and the counts and what is left must agree.
 * A second test makes a real flow (UDP over the namespace's loopback, tracked because a
 * ct rule is loaded there) and deletes it. Both run on each backend: ctnetlink in process
 * and the tool (what SHOAL_CONNTRACK=exec selects); so do batches (deleteMatching), and
 * the kernel's own filtering of a batch's dump is checked by what it sends. Needs root;
 * in CI it must not skip.
 */
import t from 'tap';
import { throwawayNetns } from '../support/kernel.ts';
import { createConntrack } from '../../src/kernel/conntrack.ts';
import { CONNTRACK_BACKENDS, conntrackBackend, ctnetlinkDeleteMatching, IPPROTO } from '../../src/kernel/ctnetlink.ts';
import { ipToBytes } from '../../src/common/ip.ts';
import type { ConntrackDeletion } from '../../src/kernel/types.ts';
import { execInNetns } from '../../src/kernel/exec.ts';
import { type ConntrackEntrySpec, FakeConntrack } from '../../src/kernel/fake-conntrack.ts';
import { createNft } from '../../src/kernel/nft.ts';

/** `conntrack -L` of a namespace in FakeConntrack's dump form. */
async function realDump(netns: string): Promise<string> {
  const { stdout } = await execInNetns(netns, 'conntrack', ['-L']);
  const lines: string[] = [];
  for (const line of stdout.split('\n')) {
    const proto = /^(tcp|udp)\s/.exec(line)?.[1];
    const tuples = [...line.matchAll(/src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/g)];
    if (!proto || tuples.length < 2) continue;
    const fmt = (m: RegExpMatchArray): string => `src=${m[1]} dst=${m[2]} sport=${m[3]} dport=${m[4]}`;
    lines.push(`${proto} ${fmt(tuples[0]!)} ${fmt(tuples[1]!)}`);
  }
  return lines.sort().join('\n');
}

async function insert(netns: string, e: ConntrackEntrySpec): Promise<void> {
  const args = [
    '-I',
    '-p',
    e.protocol,
    '-s',
    e.orig.src,
    '-d',
    e.orig.dst,
    '--sport',
    String(e.orig.sport),
    '--dport',
    String(e.orig.dport),
    '-t',
    '600',
  ];
  if (e.reply)
    args.push(
      '--reply-src',
      e.reply.src,
      '--reply-dst',
      e.reply.dst,
      '--reply-port-src',
      String(e.reply.sport),
      '--reply-port-dst',
      String(e.reply.dport),
    );
  // an answered flow carries SEEN_REPLY; an unanswered one is a SYN sent ([UNREPLIED])
  if (e.replied === false) {
    if (e.protocol === 'tcp') args.push('--state', 'SYN_SENT');
  } else {
    args.push('-u', 'SEEN_REPLY');
    if (e.protocol === 'tcp') args.push('--state', 'ESTABLISHED');
  }
  await execInNetns(netns, 'conntrack', args);
}

const ENTRIES: ConntrackEntrySpec[] = [
  // Client -> VIP 10.0.0.2:80, DNATed to two backends.
  {
    protocol: 'tcp',
    orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40000, dport: 80 },
    reply: { src: '10.0.1.5', dst: '10.0.0.9', sport: 8080, dport: 40000 },
  },
  {
    protocol: 'tcp',
    orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40001, dport: 80 },
    reply: { src: '10.0.1.6', dst: '10.0.0.9', sport: 8080, dport: 40001 },
  },
  {
    protocol: 'tcp',
    orig: { src: '10.0.0.10', dst: '10.0.0.2', sport: 40002, dport: 443 },
    reply: { src: '10.0.1.5', dst: '10.0.0.10', sport: 8443, dport: 40002 },
  },
  // UDP to the VIP, DNATed, and one without NAT.
  {
    protocol: 'udp',
    orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40003, dport: 53 },
    reply: { src: '10.0.1.5', dst: '10.0.0.9', sport: 53, dport: 40003 },
  },
  { protocol: 'udp', orig: { src: '10.0.0.9', dst: '10.0.0.3', sport: 40004, dport: 53 } },
  // A backend on a failed node: one answered connection, one SYN and one datagram unanswered.
  {
    protocol: 'tcp',
    orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40007, dport: 80 },
    reply: { src: '10.0.1.7', dst: '10.0.0.9', sport: 8080, dport: 40007 },
  },
  {
    protocol: 'tcp',
    orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40008, dport: 80 },
    reply: { src: '10.0.1.7', dst: '10.0.0.9', sport: 8080, dport: 40008 },
    replied: false,
  },
  {
    protocol: 'udp',
    orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40009, dport: 53 },
    reply: { src: '10.0.1.7', dst: '10.0.0.9', sport: 53, dport: 40009 },
    replied: false,
  },
  { protocol: 'udp', orig: { src: 'fd00::9', dst: 'fd00::2', sport: 40005, dport: 53 } },
  {
    protocol: 'tcp',
    orig: { src: 'fd00::9', dst: 'fd00::2', sport: 40006, dport: 80 },
    reply: { src: 'fd00:0::1:5', dst: 'fd00::9', sport: 8080, dport: 40006 },
  },
];

t.test('the backend choice: SHOAL_CONNTRACK, else ctnetlink when it works', async (t) => {
  t.equal(conntrackBackend(undefined, {}), 'netlink', 'ctnetlink works on this machine');
  t.equal(conntrackBackend(undefined, { SHOAL_CONNTRACK: 'exec' }), 'exec');
  t.equal(conntrackBackend(undefined, { SHOAL_CONNTRACK: 'netlink' }), 'netlink');
  t.equal(conntrackBackend('exec', { SHOAL_CONNTRACK: 'netlink' }), 'exec', 'an explicit option wins over the variable');
  t.equal(createConntrack('').backend, process.env['SHOAL_CONNTRACK'] === 'exec' ? 'exec' : 'netlink');
});

for (const backend of CONNTRACK_BACKENDS) {
  t.test(`FakeConntrack and conntrack agree (${backend})`, async (t) => {
    const netns = throwawayNetns(t, 'ct');
    if (!netns) return;
    const real = createConntrack(netns, { backend });
    t.equal(real.backend, backend);
    const fake = new FakeConntrack();
    for (const e of ENTRIES) {
      await insert(netns, e);
      fake.add(e);
    }
    t.equal(await realDump(netns), fake.dump(), 'same table after inserts');
    const steps: Array<['orig' | 'reply', string, Parameters<typeof real.deleteByReplySrc>[1]]> = [
      ['reply', '10.0.1.7', { unreplied: true }],
      ['reply', '10.0.1.7', { protocol: 'tcp', unreplied: true }],
      ['orig', '10.0.0.2', { protocol: 'tcp', port: 81 }],
      ['reply', '10.0.1.5', { protocol: 'tcp', port: 8080 }],
      ['orig', '10.0.0.2', { protocol: 'udp' }],
      ['reply', '10.0.0.3', {}],
      ['orig', 'fd00::2', { protocol: 'udp', port: 53 }],
      ['reply', 'fd00::1:5', { family: 6 }],
      ['reply', '10.0.1.5', {}],
      ['reply', '10.0.1.7', { protocol: 'tcp', port: 8080 }],
      ['orig', '10.0.0.2', {}],
      ['orig', '10.0.0.2', {}],
    ];
    for (const [dir, address, filter] of steps) {
      const what = `${dir === 'orig' ? 'deleteByOrigDst' : 'deleteByReplySrc'}(${address}, ${JSON.stringify(filter)})`;
      const r = dir === 'orig' ? await real.deleteByOrigDst(address, filter) : await real.deleteByReplySrc(address, filter);
      const f = dir === 'orig' ? await fake.deleteByOrigDst(address, filter) : await fake.deleteByReplySrc(address, filter);
      t.equal(f, r, `${what}: same count (${r})`);
      t.equal(await realDump(netns), fake.dump(), `${what}: same table`);
    }
    t.equal(fake.dump(), '', 'everything deleted in the end');
    await t.rejects(real.deleteByOrigDst('10.0.0.2', { port: 80 }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
    await t.rejects(real.deleteMatching([{ direction: 'orig-dst', address: '10.0.0.2', filter: { unreplied: true } as never }]), {
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
    });
    await t.rejects(real.deleteMatching([{ direction: 'orig-dst', address: '10.0.0.2', filter: { port: 80 } }]), {
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
    });
    await t.rejects(createConntrack('shoal-no-such-netns', { backend }).deleteByOrigDst('10.0.0.2'), { code: 'SHOAL_ERR_NETNS_NOT_FOUND' });
  });

  t.test(`a real UDP flow is tracked and deleted by original destination (${backend})`, async (t) => {
    const netns = throwawayNetns(t, 'ctflow');
    if (!netns) return;
    await execInNetns(netns, 'ip', ['link', 'set', 'lo', 'up']);
    // Conntrack hooks into a namespace only once something there uses it.
    await createNft(netns).apply(
      'add table inet shoal-ct\nadd chain inet shoal-ct out { type filter hook output priority 0; }\nadd rule inet shoal-ct out ct state new counter',
    );
    await execInNetns(netns, 'bash', ['-c', 'echo ping > /dev/udp/127.0.0.1/9; echo ping > /dev/udp/127.0.0.1/10']);
    const listed = await realDump(netns);
    t.match(listed, /udp src=127\.0\.0\.1 dst=127\.0\.0\.1 sport=\d+ dport=9 /, 'the flow is in the table');
    const conntrack = createConntrack(netns, { backend });
    t.equal(await conntrack.deleteByOrigDst('127.0.0.1', { protocol: 'udp', port: 9 }), 1);
    t.equal(await conntrack.deleteByOrigDst('127.0.0.1', { protocol: 'udp', port: 9 }), 0, 'again: nothing, not an error');
    const left = await realDump(netns);
    t.notMatch(left, /dport=9 /);
    t.match(left, /dport=10 /, 'the other flow stays');
  });
}

for (const backend of CONNTRACK_BACKENDS) {
  t.test(`batches: FakeConntrack and conntrack agree on deleteMatching (${backend})`, async (t) => {
    const netns = throwawayNetns(t, 'ctb');
    if (!netns) return;
    const real = createConntrack(netns, { backend });
    const fake = new FakeConntrack();
    for (const e of ENTRIES) {
      await insert(netns, e);
      fake.add(e);
    }
    const batches: ConntrackDeletion[][] = [
      [], // nothing to do: no read
      // A VIP's backends on every port: one original destination (filtered by the kernel), two protocols.
      [
        { direction: 'reply-src', address: '10.0.1.6', filter: { protocol: 'tcp', origDst: '10.0.0.2' } },
        { direction: 'reply-src', address: '10.0.1.5', filter: { protocol: 'udp', origDst: '10.0.0.2' } },
      ],
      // Two deletions that match the same entry: it counts for the first.
      [
        { direction: 'orig-dst', address: '10.0.0.2', filter: { protocol: 'tcp', port: 443 } },
        { direction: 'reply-src', address: '10.0.1.5', filter: { protocol: 'tcp' } },
      ],
      // Both families in one batch.
      [
        { direction: 'orig-dst', address: 'fd00::2', filter: { protocol: 'udp', port: 53 } },
        { direction: 'reply-src', address: 'fd00::1:5', filter: { protocol: 'tcp', port: 8080 } },
        { direction: 'orig-dst', address: '10.0.0.3' },
      ],
      [{ direction: 'orig-dst', address: '10.0.0.2' }],
    ];
    for (const batch of batches) {
      const what = `deleteMatching(${JSON.stringify(batch)})`;
      const r = await real.deleteMatching(batch);
      const f = await fake.deleteMatching(batch);
      t.same(r, f, `${what}: same counts (${r.join(', ')})`);
      t.equal(await realDump(netns), fake.dump(), `${what}: same table`);
    }
    t.same(await real.deleteMatching(batches[2]!), [0, 0], 'a batch again: nothing, not an error');
    t.equal(fake.dump(), '', 'everything deleted in the end');
    await t.rejects(createConntrack('shoal-no-such-netns', { backend }).deleteMatching(batches[1]!), {
      code: 'SHOAL_ERR_NETNS_NOT_FOUND',
    });
  });
}

t.test("the kernel filters a batch's dump by what every filter of it requires", async (t) => {
  const netns = throwawayNetns(t, 'ctf');
  if (!netns) return;
  if (conntrackBackend() !== 'netlink') {
    t.fail('ctnetlink is not available here');
    return;
  }
  for (const e of ENTRIES) await insert(netns, e);
  const none = ipToBytes('10.9.9.9');
  const run = (matches: Parameters<typeof ctnetlinkDeleteMatching>[2]) => ctnetlinkDeleteMatching(netns, 4, matches, { command: 'test' });
  // IPv4 entries: seven to 10.0.0.2 (five tcp, two udp), one to 10.0.0.3.
  t.equal((await run([{ direction: 'reply-src', address: none }])).dumped, 8, 'no common part: every IPv4 entry comes back');
  const vip = ipToBytes('10.0.0.2');
  const sameVip = await run([
    { direction: 'reply-src', address: none, origDst: vip, protocol: IPPROTO.tcp },
    { direction: 'reply-src', address: none, origDst: vip, protocol: IPPROTO.udp },
  ]);
  t.equal(sameVip.dumped, 7, 'one original destination: only its entries come back');
  t.same(sameVip.deleted, [0, 0]);
  const tcpOnly = await run([
    { direction: 'reply-src', address: none, protocol: IPPROTO.tcp },
    { direction: 'orig-dst', address: none, protocol: IPPROTO.tcp },
  ]);
  t.equal(tcpOnly.dumped, 5, 'one protocol: only its entries come back');
  t.equal((await realDump(netns)).split('\n').length, ENTRIES.length, 'nothing was deleted');
});
