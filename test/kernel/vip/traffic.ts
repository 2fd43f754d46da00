/**
 * The kernel load-balancer tests' testbed and traffic (not a test file itself). A client
 * namespace holds a bridge (10.20.0.1/24) with a veth to each backend namespace, each
 * running one Node process that listens on TCP and UDP 7001 and 7002 and answers with its
 * name and port; a spare namespace takes a fresh table. Clients run in the client namespace:
 * sequential requests (a fresh socket each) and held TCP connections that answer pings.
 * Everything is named with the caller's prefix and removed in teardown, with the processes
 * started here.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import type { Test } from 'tap';
import { canonicalNftTable, createNft, withRuleText } from '../../../src/kernel/nft.ts';
import { waitUntil } from '../../support/wait.ts';

/** The ports every backend serves, TCP and UDP. */
export const PORTS = [7001, 7002];

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

/** COUNT requests from the namespace, one socket each: the first line of each answer, or its error code. */
export async function requests(ns: string, mode: 'tcp' | 'udp', host: string, port: number, count: number): Promise<string[]> {
  return JSON.parse((await inNs(ns, [process.execPath, '-e', CLIENT, mode, host, String(port), String(count)])).trim()) as string[];
}

export function counts(answers: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) out[a] = (out[a] ?? 0) + 1;
  return out;
}

/** Original destination -> reply source (`DST:DPORT SRC:SPORT`) of the namespace's TCP entries. */
export async function tcpEntries(ns: string): Promise<string[]> {
  const text = await inNs(ns, ['conntrack', '-L', '-p', 'tcp']).catch(() => '');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^tcp\s.*?src=\S+ dst=(\S+) sport=\d+ dport=(\d+) .*?src=(\S+) dst=\S+ sport=(\d+)/.exec(line);
    if (m) out.push(`${m[1]}:${m[2]} ${m[3]}:${m[4]}`);
  }
  return out.sort();
}

/** The table as nft prints it back, in canonical text; `(none)` when it does not exist. */
export async function realCanonical(ns: string, table: string): Promise<string> {
  const nft = createNft(ns);
  const dump = await nft.listTable('ip', table);
  if (!dump) return '(none)';
  return canonicalNftTable(withRuleText(dump.json, (await nft.listTableText('ip', table))!));
}

export interface Bed<N extends string> {
  client: string;
  spare: string;
  /** Backend name -> its namespace. */
  backends: Record<N, string>;
  /** Starts a process in the client namespace, killed in teardown. */
  spawnInClient(argv: string[]): ChildProcess;
}

/** The namespaces, links and servers for backends `addresses` (name -> address in 10.20.0.0/24); all removed in teardown. */
export async function testbed<N extends string>(t: Test, prefix: string, addresses: Record<N, string>): Promise<Bed<N>> {
  const names = Object.keys(addresses) as N[];
  const children: ChildProcess[] = [];
  const client = `${prefix}-c`;
  const backends = {} as Record<N, string>;
  for (const name of names) backends[name] = `${prefix}-${name}`;
  const bed: Bed<N> = {
    client,
    spare: `${prefix}-f`,
    backends,
    spawnInClient: (argv) => {
      const child = spawn('nsenter', [`--net=/run/netns/${client}`, '--', ...argv], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      return child;
    },
  };
  const all = [bed.client, bed.spare, ...Object.values<string>(backends)];
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
  for (const name of names) {
    const ns = backends[name];
    sh(['ip', '-n', bed.client, 'link', 'add', `v${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    sh(['ip', '-n', bed.client, 'link', 'set', `v${name}`, 'master', 'br0', 'up']);
    sh(['ip', '-n', ns, 'addr', 'add', `${addresses[name]}/24`, 'dev', 'eth0']);
    sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    children.push(spawn('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, '-e', SERVER, name], { stdio: 'ignore' }));
  }
  // Servers up: each port of each answers directly.
  for (const name of names) {
    for (const port of PORTS) {
      await waitUntil(
        async () => (await requests(bed.client, 'tcp', addresses[name], port, 1))[0] === `${name}:${port}`,
        15_000,
        `${name} on tcp ${port}`,
      );
      await waitUntil(
        async () => (await requests(bed.client, 'udp', addresses[name], port, 1))[0] === `u${name}:${port}`,
        15_000,
        `${name} on udp ${port}`,
      );
    }
  }
  return bed;
}

/** A held set of TCP connections in the client namespace: their first lines, then ping rounds (each one's state: ok or an error). */
export async function hold(
  bed: Bed<string>,
  host: string,
  port: number,
  count: number,
): Promise<{ names: string[]; ping: () => Promise<string[]> }> {
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
