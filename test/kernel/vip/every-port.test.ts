/**
 * Every-port VIPs on the real kernel, with real traffic (Docker's VIP: VIP:any-port ->
 * backend:same-port). A client namespace holds a bridge (10.20.0.1/24) with a veth to each
 * of two backend namespaces (10.20.0.11-12), each running one Node process that listens on
 * TCP and UDP 7001 and 7002 and answers with its name and port; VipSyncer programs the
 * client's table. Checked: TCP and UDP connections to VIP:7001 and VIP:7002 reach the same
 * port on both backends; an explicit port of the same VIP wins for its port (80 -> 7001); a
 * port no backend listens on is refused by the backend; an every-port VIP without a healthy
 * backend is refused at once; removing a backend by an incremental sync cuts what the VIP
 * sent it (on any port) and nothing else (a direct connection to it stays), and moves new
 * connections to the other one; the ruleset after the incremental syncs is the plan, nft
 * prints it back as planned, a full sync over it changes nothing and writes the same in a
 * fresh namespace.
 *
 * Needs root and network namespaces (skipped elsewhere, a failure in CI). Its namespaces
 * are named `vipany-<hex>-*` and removed in teardown, with the processes it started.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { createConntrack } from '../../../src/kernel/conntrack.ts';
import { canonicalNftTable, createNft, withRuleText } from '../../../src/kernel/nft.ts';
import { VipSyncer } from '../../../src/vip/apply.ts';
import type { VipBackend, VipModel, VipService } from '../../../src/vip/model.ts';
import { planVip } from '../../../src/vip/plan.ts';
import { canonicalOfState } from '../../../src/vip/table-state.ts';
import { requireKernel } from '../../support/kernel.ts';
import { waitUntil } from '../../support/wait.ts';

const VIP = '10.20.0.100';
const VIP_DOWN = '10.20.0.101';
const BACKENDS = { b1: '10.20.0.11', b2: '10.20.0.12' } as const;
type Name = keyof typeof BACKENDS;
const NAMES = Object.keys(BACKENDS) as Name[];
const PORTS = [7001, 7002];

/** Runs in a backend namespace: on TCP 7001 and 7002 writes `NAME:PORT` and then echoes; on UDP answers `uNAME:PORT`. */
const SERVER = `
const net = require('node:net'); const dgram = require('node:dgram');
const name = process.argv[1];
let up = 0;
for (const port of [7001, 7002]) {
  net.createServer((s) => { s.on('error', () => {}); s.write(name + ':' + port + '\\n'); s.pipe(s); })
    .listen(port, () => { if (++up === 4) console.log('up'); });
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send('u' + name + ':' + port, r.port, r.address));
  u.bind(port, () => { if (++up === 4) console.log('up'); });
}
`;

/** Runs in the client namespace: COUNT sequential requests (a fresh socket each); one JSON list of first lines or error codes. */
const CLIENT = `
const net = require('node:net'); const dgram = require('node:dgram');
const [mode, host, port, count] = process.argv.slice(1);
const tcp = () => new Promise((res) => {
  const s = net.connect({ host, port: Number(port) }); let data = '';
  const done = (v) => { clearTimeout(timer); s.destroy(); res(v); };
  const timer = setTimeout(() => done('timeout'), 3000);
  s.on('data', (d) => { data += d; if (data.includes('\\n')) done(data.split('\\n')[0]); });
  s.on('end', () => done(data.trim() || 'closed'));
  s.on('error', (e) => done(e.code));
});
const udp = () => new Promise((res) => {
  const s = dgram.createSocket('udp4');
  const done = (v) => { clearTimeout(timer); s.close(); res(v); };
  const timer = setTimeout(() => done('timeout'), 2000);
  s.on('message', (m) => done(String(m).trim()));
  s.on('error', (e) => done(e.code));
  s.connect(Number(port), host, () => s.send('q'));
});
(async () => { const out = []; for (let i = 0; i < Number(count); i++) out.push(await (mode === 'udp' ? udp() : tcp())); console.log(JSON.stringify(out)); })();
`;

/** Runs in the client namespace: holds COUNT TCP connections; prints their first lines, then answers each "ping" line with each one's state. */
const HOLDER = `
const net = require('node:net'); const readline = require('node:readline');
const [host, port, count] = process.argv.slice(1);
const conns = [];
const open = () => new Promise((res) => {
  const c = { s: net.connect({ host, port: Number(port) }), name: '', buf: '', dead: undefined, waiter: undefined };
  c.s.setEncoding('utf8');
  c.s.on('data', (d) => { c.buf += d; if (!c.name && c.buf.includes('\\n')) { c.name = c.buf.split('\\n')[0]; c.buf = ''; res(c); } else if (c.waiter && c.buf.includes('ping')) { c.buf = ''; c.waiter('ok'); } });
  c.s.on('error', (e) => { c.dead = e.code; if (c.waiter) c.waiter(e.code); if (!c.name) res(c); });
  c.s.on('close', () => { c.dead = c.dead || 'closed'; if (c.waiter) c.waiter(c.dead); if (!c.name) res(c); });
  conns.push(c);
});
(async () => {
  for (let i = 0; i < Number(count); i++) await open();
  console.log(JSON.stringify(conns.map((c) => c.name || c.dead)));
  readline.createInterface({ input: process.stdin }).on('line', async () => {
    const out = await Promise.all(conns.map((c) => new Promise((res) => {
      if (c.dead) return res(c.dead);
      const timer = setTimeout(() => { c.waiter = undefined; res(c.dead || 'timeout'); }, 3000);
      c.waiter = (v) => { clearTimeout(timer); c.waiter = undefined; res(v); };
      c.s.write('ping\\n');
    })));
    console.log(JSON.stringify(out));
  });
})();
`;

function sh(args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}

function inNs(ns: string, argv: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv[0]} in ${ns}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

async function requests(ns: string, mode: 'tcp' | 'udp', host: string, port: number, count: number): Promise<string[]> {
  return JSON.parse((await inNs(ns, [process.execPath, '-e', CLIENT, mode, host, String(port), String(count)])).trim()) as string[];
}

function counts(answers: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) out[a] = (out[a] ?? 0) + 1;
  return out;
}

/** Original destination -> reply source (`DST:DPORT SRC:SPORT`) of the client's TCP entries. */
async function tcpEntries(ns: string): Promise<string[]> {
  const text = await inNs(ns, ['conntrack', '-L', '-p', 'tcp']).catch(() => '');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^tcp\s.*?src=\S+ dst=(\S+) sport=\d+ dport=(\d+) .*?src=(\S+) dst=\S+ sport=(\d+)/.exec(line);
    if (m) out.push(`${m[1]}:${m[2]} ${m[3]}:${m[4]}`);
  }
  return out.sort();
}

async function realCanonical(ns: string, table: string): Promise<string> {
  const nft = createNft(ns);
  const dump = await nft.listTable('ip', table);
  if (!dump) return '(none)';
  return canonicalNftTable(withRuleText(dump.json, (await nft.listTableText('ip', table))!));
}

interface Bed {
  client: string;
  spare: string;
  backends: Record<Name, string>;
  /** Starts a process in the client namespace, killed in teardown. */
  spawnInClient(argv: string[]): ChildProcess;
}

/** The namespaces, links and servers; all removed in teardown. */
async function testbed(t: Test, prefix: string): Promise<Bed> {
  const children: ChildProcess[] = [];
  const client = `${prefix}-c`;
  const bed: Bed = {
    client,
    spare: `${prefix}-f`,
    backends: { b1: `${prefix}-b1`, b2: `${prefix}-b2` },
    spawnInClient: (argv) => {
      const child = spawn('nsenter', [`--net=/run/netns/${client}`, '--', ...argv], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      return child;
    },
  };
  const all = [bed.client, bed.spare, ...Object.values(bed.backends)];
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const ns of all) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        // not created
      }
    }
  });
  for (const ns of all) sh(['ip', 'netns', 'add', ns]);
  sh(['ip', '-n', bed.client, 'link', 'add', 'br0', 'type', 'bridge']);
  sh(['ip', '-n', bed.client, 'addr', 'add', '10.20.0.1/24', 'dev', 'br0']);
  sh(['ip', '-n', bed.client, 'link', 'set', 'br0', 'up']);
  sh(['ip', '-n', bed.client, 'link', 'set', 'lo', 'up']);
  for (const name of NAMES) {
    const ns = bed.backends[name];
    sh(['ip', '-n', bed.client, 'link', 'add', `v${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh(['ip', '-n', bed.client, 'link', 'set', `v${name}`, 'master', 'br0', 'up']);
    sh(['ip', '-n', ns, 'addr', 'add', `${BACKENDS[name]}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    children.push(spawn('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, '-e', SERVER, name], { stdio: 'ignore' }));
  }
  // Servers up: each port of each answers directly.
  for (const name of NAMES) {
    for (const port of PORTS) {
      await waitUntil(
        async () => (await requests(bed.client, 'tcp', BACKENDS[name], port, 1))[0] === `${name}:${port}`,
        15_000,
        `${name} on tcp ${port}`,
      );
      await waitUntil(
        async () => (await requests(bed.client, 'udp', BACKENDS[name], port, 1))[0] === `u${name}:${port}`,
        15_000,
        `${name} on udp ${port}`,
      );
    }
  }
  return bed;
}

/** A held set of TCP connections in the client namespace: their first lines, then ping rounds. */
async function hold(bed: Bed, host: string, port: number, count: number): Promise<{ names: string[]; ping: () => Promise<string[]> }> {
  const child = bed.spawnInClient([process.execPath, '-e', HOLDER, host, String(port), String(count)]);
  const lines: string[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  const line = async (n: number): Promise<string[]> => JSON.parse(await waitUntil(() => lines[n], 20_000, `holder line ${n}`)) as string[];
  const names = await line(0);
  let round = 0;
  return {
    names,
    ping: async () => {
      child.stdin!.write('ping\n');
      return line(++round);
    },
  };
}

function lbModel(table: string, backends: Partial<Record<Name, Partial<VipBackend>>>): VipModel {
  const list: VipBackend[] = NAMES.filter((n) => backends[n]).map((n) => ({ ip: BACKENDS[n], healthy: true, ...backends[n] }));
  const services: VipService[] = [
    {
      id: 'any',
      vip: VIP,
      ports: [
        { protocol: 'tcp', port: 0, targetPort: 0 },
        { protocol: 'udp', port: 0, targetPort: 0 },
        { protocol: 'tcp', port: 80, targetPort: 7001 },
      ],
      backends: list,
    },
    { id: 'down', vip: VIP_DOWN, ports: [{ protocol: 'tcp', port: 0, targetPort: 0 }], backends: [{ ip: BACKENDS.b1, healthy: false }] },
  ];
  return { tableName: table, services };
}

if (requireKernel(t)) {
  t.test('every-port VIP: any port of the VIP to the same port of a backend', async (t) => {
    const prefix = `vipany-${randomBytes(3).toString('hex')}`;
    const bed = await testbed(t, prefix);
    const table = `${prefix}-lb`;
    const syncer = new VipSyncer(createNft(bed.client), createConntrack(bed.client));
    const first = await syncer.sync(lbModel(table, { b1: {}, b2: {} }), false);
    t.equal(first.transaction, 'rewrite', 'the first sync writes the table');
    t.same(first.problems, [], 'the model is valid');

    // Every port, its own port on the backend, over both backends; TCP and UDP.
    for (const port of PORTS) {
      const tcp = counts(await requests(bed.client, 'tcp', VIP, port, 40));
      t.same(
        Object.keys(tcp).sort(),
        [`b1:${port}`, `b2:${port}`],
        `40 connections to VIP:${port} over both, port kept: ${JSON.stringify(tcp)}`,
      );
      const udp = counts(await requests(bed.client, 'udp', VIP, port, 30));
      t.same(Object.keys(udp).sort(), [`ub1:${port}`, `ub2:${port}`], `30 UDP requests to VIP:${port} over both: ${JSON.stringify(udp)}`);
    }
    // The explicit port wins for its port.
    const explicit = counts(await requests(bed.client, 'tcp', VIP, 80, 20));
    t.same(Object.keys(explicit).sort(), ['b1:7001', 'b2:7001'], `VIP:80 goes to 7001 (explicit port first): ${JSON.stringify(explicit)}`);
    // Nobody listens on 7003: the backend refuses it (a reset, a port unreachable).
    t.same(await requests(bed.client, 'tcp', VIP, 7003, 2), ['ECONNREFUSED', 'ECONNREFUSED'], 'a port no backend listens on: refused');
    t.same(await requests(bed.client, 'udp', VIP, 7003, 2), ['ECONNREFUSED', 'ECONNREFUSED'], 'over UDP too');
    // No healthy backend: refused at once, on any port.
    t.same(await requests(bed.client, 'tcp', VIP_DOWN, 7001, 1), ['ECONNREFUSED'], 'every-port VIP without a healthy backend: refused');
    t.same(await requests(bed.client, 'udp', VIP_DOWN, 7001, 1), ['ECONNREFUSED'], 'a protocol it does not publish: refused');

    // Held connections: through the VIP to both backends on 7002, and one directly to b1.
    const viaVip = await waitUntil(
      async () => {
        const h = await hold(bed, VIP, 7002, 12);
        return h.names.includes('b1:7002') && h.names.includes('b2:7002') ? h : undefined;
      },
      60_000,
      'held connections through the VIP on both backends',
    );
    const direct = await hold(bed, BACKENDS.b1, 7002, 1);
    t.same(direct.names, ['b1:7002'], 'a direct connection to b1');
    t.ok(
      (await viaVip.ping()).every((r) => r === 'ok'),
      'every held connection echoes',
    );
    const before = await tcpEntries(bed.client);
    t.ok(before.includes(`${BACKENDS.b1}:7002 ${BACKENDS.b1}:7002`), 'conntrack holds the direct connection');
    t.ok(
      before.some((e) => e.startsWith(`${VIP}:7002 ${BACKENDS.b1}:`)),
      'and b1 through the VIP',
    );

    // b1 leaves by an incremental sync.
    const removal = await syncer.sync(lbModel(table, { b2: {} }), false);
    t.equal(removal.full, false, 'incremental');
    t.equal(removal.transaction, 'elements', 'an element transaction');
    t.same(removal.failures, [], 'no conntrack failure');
    const b1 = BACKENDS.b1;
    t.same(
      removal.conntrack.flushed,
      [`tcp ${b1} * ${VIP}`, `tcp ${b1} 7001`, `udp ${b1} * ${VIP}`],
      'b1 loses what the VIP sent it on every port, and its explicit target port',
    );
    const after = await tcpEntries(bed.client);
    t.notOk(
      after.some((e) => e.startsWith(`${VIP}:`) && e.includes(` ${b1}:`)),
      'no entry left from the VIP to b1',
    );
    t.ok(after.includes(`${b1}:7002 ${b1}:7002`), 'the direct connection to b1 keeps its entry');
    const pings = await viaVip.ping();
    viaVip.names.forEach((name, i) => {
      if (name.startsWith('b1')) t.not(pings[i], 'ok', `connection ${i} (${name}, removed) is ended: ${pings[i]}`);
      else t.equal(pings[i], 'ok', `connection ${i} (${name}) still works`);
    });
    t.same(await direct.ping(), ['ok'], 'the direct connection to b1 still works');
    for (const port of PORTS) {
      t.same(counts(await requests(bed.client, 'tcp', VIP, port, 15)), { [`b2:${port}`]: 15 }, `new connections to VIP:${port} go to b2`);
      t.same(counts(await requests(bed.client, 'udp', VIP, port, 10)), { [`ub2:${port}`]: 10 }, `and UDP to VIP:${port}`);
    }

    // More incremental changes (the count goes to 0 and back: pickany chains come and go).
    t.same((await syncer.sync(lbModel(table, {}), false)).failures, [], 'no conntrack failure');
    t.same(await requests(bed.client, 'tcp', VIP, 7001, 1), ['ECONNREFUSED'], 'no backend left: refused');
    const reopened = await syncer.sync(lbModel(table, { b1: { draining: true }, b2: {} }), false);
    t.same(reopened.conntrack.opened, [`udp ${VIP} *`], 'the every-port UDP entry opens again: its un-NATed flows are deleted');
    t.same(reopened.failures, [], 'by a conntrack run that succeeds');
    t.same(counts(await requests(bed.client, 'udp', VIP, 7001, 5)), { 'ub2:7001': 5 }, 'a draining backend gets no new flow');
    const final = lbModel(table, { b1: {}, b2: {} });
    const back = await syncer.sync(final, false);
    t.equal(back.transaction, 'elements', 'b1 back: an element transaction');
    t.same(Object.keys(counts(await requests(bed.client, 'tcp', VIP, 7002, 30))).sort(), ['b1:7002', 'b2:7002'], 'b1 is back');

    // The ruleset after the incremental syncs is the plan, as nft prints it; full syncs agree.
    const incremental = await realCanonical(bed.client, table);
    t.equal(incremental, canonicalOfState(planVip(final).state), 'the kernel holds the plan (nft prints it back as planned)');
    const check = await syncer.sync(final, true);
    t.equal(check.transaction, 'none', 'a full sync over the incremental result changes nothing');
    t.same(await syncer.doctor(final), [], 'doctor finds nothing');
    const fresh = new VipSyncer(createNft(bed.spare), createConntrack(bed.spare));
    t.equal((await fresh.sync(final, true)).transaction, 'rewrite', 'a fresh namespace gets the table written');
    t.equal(await realCanonical(bed.spare, table), incremental, 'a full sync in a fresh namespace writes the same ruleset');
    t.equal(await syncer.remove(table), true, 'remove() deletes the table');
  });
}
