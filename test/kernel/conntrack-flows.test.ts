/**
 * Conntrack deletions of real flows, on each backend (ctnetlink in process, and the tool).
 * A client namespace and a server namespace joined by a veth; the server runs a Node
 * process answering TCP and UDP on 7001 and 7002 (IPv4 and IPv6); the client DNATs a VIP
 * (198.51.100.10 and 2001:db8:1::10, port 80/tcp and 53/udp) to the server's 7001 in its
 * output hook and holds connections open: through the VIP and direct, TCP and UDP, both
 * families. Each delete must remove exactly the entries its filter names (read back with
 * `conntrack -L`), return that count, and leave the server namespace's own table alone.
 * Last, 100 deletions of one entry by reply source on each backend, each deleting exactly
 * its entry (their times are printed as comments, not asserted).
 * Namespaces are `ct-<hex>-cli` / `-srv` / `-bench`; all removed in teardown.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import t from 'tap';
import { createConntrack } from '../../src/kernel/conntrack.ts';
import { CONNTRACK_BACKENDS, type ConntrackBackend } from '../../src/kernel/ctnetlink.ts';
import { execInNetns } from '../../src/kernel/exec.ts';
import { createNft } from '../../src/kernel/nft.ts';
import { requireKernel } from '../support/kernel.ts';
import { waitUntil } from '../support/wait.ts';

const CLI4 = '192.0.2.1';
const SRV4 = '192.0.2.2';
const CLI6 = '2001:db8::1';
const SRV6 = '2001:db8::2';
const VIP4 = '198.51.100.10';
const VIP6 = '2001:db8:1::10';

/** Server: TCP and UDP on 7001 and 7002, both families; a TCP peer gets a line, a datagram an answer. */
const SERVER = `
const net = require('node:net'); const dgram = require('node:dgram');
let up = 0;
for (const port of [7001, 7002]) {
  net.createServer((s) => { s.on('error', () => {}); s.write('hi\\n'); }).listen({ port, host: '::' }, () => { if (++up === 4) console.log('up'); });
  const u = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  u.on('message', (m, r) => u.send('u', r.port, r.address));
  u.bind(port, '::', () => { if (++up === 4) console.log('up'); });
}
`;

/** Client: opens every flow in argv (JSON [proto, host, port][]), waits for each answer, prints "ready", holds them. */
const CLIENT = `
const net = require('node:net'); const dgram = require('node:dgram');
const flows = JSON.parse(process.argv[1]); const held = [];
const one = ([proto, host, port]) => new Promise((res, rej) => {
  const timer = setTimeout(() => rej(new Error('no answer from ' + host + ':' + port)), 5000);
  if (proto === 'tcp') {
    const s = net.connect({ host, port }); held.push(s);
    s.once('data', () => { clearTimeout(timer); res(); }); s.on('error', rej);
  } else {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4'); held.push(s);
    s.once('message', () => { clearTimeout(timer); res(); }); s.on('error', rej);
    s.connect(port, host, () => s.send('q'));
  }
});
(async () => { for (const f of flows) await one(f); console.log('ready'); })().catch((e) => { console.log('error ' + e.message); process.exit(1); });
process.stdin.resume(); process.stdin.on('end', () => process.exit(0));
`;

const FLOWS: Array<[string, string, number]> = [
  ['tcp', VIP4, 80], // a: through the VIP to SRV4:7001
  ['tcp', VIP4, 80], // a
  ['tcp', SRV4, 7002], // b: direct
  ['tcp', SRV4, 7001], // c: direct, same backend port as a
  ['udp', VIP4, 53], // d: through the VIP to SRV4:7001
  ['udp', SRV4, 7001], // e: direct
  ['tcp', VIP6, 80], // f: through the VIP to [SRV6]:7001
  ['tcp', SRV6, 7002], // g: direct
  ['udp', SRV6, 7001], // h: direct
];

/** `conntrack -L` of a namespace: sorted `proto orig-tuple reply-tuple` lines of its TCP and UDP entries. */
async function flows(netns: string): Promise<string[]> {
  const { stdout } = await execInNetns(netns, 'conntrack', ['-L'], { okExitCodes: [1] });
  const lines: string[] = [];
  for (const line of stdout.split('\n')) {
    const proto = /^(tcp|udp)\s/.exec(line)?.[1];
    const tuples = [...line.matchAll(/src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/g)];
    if (!proto || tuples.length < 2) continue;
    const fmt = (m: RegExpMatchArray): string => `${m[1]}:${m[3]}>${m[2]}:${m[4]}`;
    lines.push(`${proto} ${fmt(tuples[0]!)} ${fmt(tuples[1]!)}`);
  }
  return lines.sort();
}

function ns(t: Test, prefix: string, label: string): string {
  const name = `${prefix}-${label}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
  t.teardown(() => {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
  });
  return name;
}

function start(t: Test, netns: string, script: string, args: string[]): { child: ChildProcess; out: () => string } {
  const child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, '-e', script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, out: () => out };
}

async function testbed(t: Test): Promise<{ cli: string; srv: string }> {
  const prefix = `ct-${randomBytes(3).toString('hex')}`;
  const cli = ns(t, prefix, 'cli');
  const srv = ns(t, prefix, 'srv');
  const ip = (netns: string, ...args: string[]): unknown => execFileSync('ip', ['-n', netns, ...args], { stdio: 'pipe' });
  ip(cli, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v0', 'netns', srv);
  for (const [netns, v4, v6] of [
    [cli, CLI4, CLI6],
    [srv, SRV4, SRV6],
  ] as const) {
    ip(netns, 'link', 'set', 'lo', 'up');
    ip(netns, 'addr', 'add', `${v4}/24`, 'dev', 'v0');
    ip(netns, '-6', 'addr', 'add', `${v6}/64`, 'dev', 'v0', 'nodad');
    ip(netns, 'link', 'set', 'v0', 'up');
  }
  ip(cli, 'route', 'add', '198.51.100.0/24', 'dev', 'v0');
  ip(cli, '-6', 'route', 'add', '2001:db8:1::/64', 'dev', 'v0');
  await createNft(cli).apply(
    [
      'add table inet ct-test',
      'add chain inet ct-test out { type nat hook output priority -100; }',
      `add rule inet ct-test out ip daddr ${VIP4} tcp dport 80 dnat ip to ${SRV4}:7001`,
      `add rule inet ct-test out ip daddr ${VIP4} udp dport 53 dnat ip to ${SRV4}:7001`,
      `add rule inet ct-test out ip6 daddr ${VIP6} tcp dport 80 dnat ip6 to [${SRV6}]:7001`,
    ].join('\n'),
  );
  // The server tracks its own side: its table must not change when the client's does.
  await createNft(srv).apply(
    'add table inet ct-test\nadd chain inet ct-test in { type filter hook input priority 0; }\nadd rule inet ct-test in ct state new counter',
  );
  const server = start(t, srv, SERVER, []);
  await waitUntil(() => server.out().includes('up') || (server.child.exitCode !== null && server.out()), 10_000, 'the server');
  t.match(server.out(), /up/, 'the server listens');
  const client = start(t, cli, CLIENT, [JSON.stringify(FLOWS)]);
  await waitUntil(() => /ready|error/.test(client.out()) || client.child.exitCode !== null, 20_000, 'the client flows');
  t.match(client.out(), /ready/, 'every flow got its answer');
  return { cli, srv };
}

const tcpA = (l: string): boolean => l.startsWith(`tcp ${CLI4}:`) && l.includes(`>${VIP4}:80 `);
const tcpB = (l: string): boolean => l.startsWith(`tcp ${CLI4}:`) && l.includes(`>${SRV4}:7002 `);
const tcpC = (l: string): boolean => l.startsWith(`tcp ${CLI4}:`) && l.includes(`>${SRV4}:7001 `);
const udpD = (l: string): boolean => l.startsWith(`udp ${CLI4}:`) && l.includes(`>${VIP4}:53 `);
const udpE = (l: string): boolean => l.startsWith(`udp ${CLI4}:`) && l.includes(`>${SRV4}:7001 `);
const tcpF = (l: string): boolean => l.startsWith(`tcp ${CLI6}:`) && l.includes(`>${VIP6}:80 `);
const tcpG = (l: string): boolean => l.startsWith(`tcp ${CLI6}:`) && l.includes(`>${SRV6}:7002 `);
const udpH = (l: string): boolean => l.startsWith(`udp ${CLI6}:`) && l.includes(`>${SRV6}:7001 `);

for (const backend of CONNTRACK_BACKENDS) {
  t.test(`each filter deletes exactly its flows (${backend})`, async (t) => {
    if (!requireKernel(t)) return;
    const { cli, srv } = await testbed(t);
    const before = await flows(cli);
    const groups = { a: tcpA, b: tcpB, c: tcpC, d: udpD, e: udpE, f: tcpF, g: tcpG, h: udpH };
    for (const [name, is] of Object.entries(groups)) {
      t.equal(before.filter(is).length, name === 'a' ? 2 : 1, `flow ${name} is tracked in the client`);
    }
    const serverBefore = await flows(srv);
    t.ok(serverBefore.length >= FLOWS.length, 'the server tracks its side too');
    const conntrack = createConntrack(cli, { backend });
    t.equal(conntrack.backend, backend);
    const steps: Array<[string, () => Promise<number>, (l: string) => boolean]> = [
      [
        'reply-src SRV4 tcp 7001 orig-dst VIP4',
        () => conntrack.deleteByReplySrc(SRV4, { protocol: 'tcp', port: 7001, origDst: VIP4 }),
        tcpA,
      ],
      ['reply-src SRV4 udp', () => conntrack.deleteByReplySrc(SRV4, { protocol: 'udp' }), (l) => udpD(l) || udpE(l)],
      ['orig-dst SRV4 tcp 7002', () => conntrack.deleteByOrigDst(SRV4, { protocol: 'tcp', port: 7002 }), tcpB],
      ['orig-dst VIP6', () => conntrack.deleteByOrigDst(VIP6), tcpF],
      ['reply-src SRV6 tcp 7002', () => conntrack.deleteByReplySrc(SRV6, { protocol: 'tcp', port: 7002 }), tcpG],
      ['reply-src SRV6 udp', () => conntrack.deleteByReplySrc(SRV6, { protocol: 'udp', family: 6 }), udpH],
      ['orig-dst SRV4', () => conntrack.deleteByOrigDst(SRV4), tcpC],
      ['orig-dst SRV4 again', () => conntrack.deleteByOrigDst(SRV4), () => false],
    ];
    let left = before;
    for (const [what, run, doomed] of steps) {
      const expected = left.filter((l) => !doomed(l));
      const count = await run();
      t.equal(count, left.length - expected.length, `${what}: deletes ${left.length - expected.length}`);
      left = await flows(cli);
      t.same(left, expected, `${what}: exactly those entries are gone`);
    }
    t.same(left, [], 'no flow of the client is left');
    t.same(await flows(srv), serverBefore, "the server namespace's table is untouched");
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

t.test('100 deletions of one entry by reply source, each backend: each deletes its entry and no other', async (t) => {
  if (!requireKernel(t)) return;
  const prefix = `ct-${randomBytes(3).toString('hex')}`;
  const bench = ns(t, prefix, 'bench');
  const N = 100;
  const insert = (first: number, n: number): void => {
    // One shell for all inserts: N entries to a VIP, each NATed to its own backend.
    const script = `for i in $(seq ${first} ${first + n - 1}); do conntrack -I -p tcp -s 10.0.0.9 -d 10.0.0.2 --sport $((20000 + i)) --dport 80 --reply-src 10.1.$((i / 250)).$((i % 250 + 1)) --reply-dst 10.0.0.9 --reply-port-src 8080 --reply-port-dst $((20000 + i)) -t 600 --state ESTABLISHED 2>/dev/null || exit 1; done`;
    execFileSync('nsenter', [`--net=/run/netns/${bench}`, '--', 'bash', '-c', script], { stdio: 'pipe' });
  };
  const results: Record<string, { median: number; p90: number }> = {};
  let first = 0;
  for (const backend of CONNTRACK_BACKENDS as readonly ConntrackBackend[]) {
    insert(first, N);
    const conntrack = createConntrack(bench, { backend });
    const times: number[] = [];
    for (let i = first; i < first + N; i++) {
      const t0 = process.hrtime.bigint();
      const n = await conntrack.deleteByReplySrc(`10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, { protocol: 'tcp', port: 8080 });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (n !== 1) t.fail(`delete ${i} on ${backend} deleted ${n}`);
    }
    times.sort((x, y) => x - y);
    results[backend] = { median: percentile(times, 50), p90: percentile(times, 90) };
    t.comment(`${backend}: ${N} deletes, median ${results[backend]!.median.toFixed(2)} ms, p90 ${results[backend]!.p90.toFixed(2)} ms`);
    t.same(await flows(bench), [], `${backend}: all ${N} deleted`);
    first += N;
  }
  // The times are printed, not compared: which backend is faster on a loaded 2-core machine
  // is a measurement, and a comparison here failed on runs where both took about 20 ms.
});
