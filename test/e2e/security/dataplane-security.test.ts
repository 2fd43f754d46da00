/**
 * Security of the data plane in a 3-host testbed (prefix `sec`), on the real kernel:
 *
 * - gossip: datagrams and stream frames from the outside client that are plaintext, sealed
 *   with a key the cluster removed, replayed, or too old are dropped, and each reason is
 *   counted in the agent's GET /status (`gossip.drops`); gossip itself keeps working;
 * - isolation: a task cannot reach the tasks, VIPs or egress addresses of a network it is
 *   not attached to; from its egress path it reaches neither the manager's API (TCP 2377),
 *   gossip (TCP and UDP 7946) nor the VXLAN port (UDP 4789) of any host, its own included
 *   (witness counters in each host namespace, after the agent's rules, count what got
 *   through), while other traffic out still goes; `shoal doctor` sees the guard rules;
 * - internal networks: a task only on an --internal network reaches nothing outside and
 *   has nothing forwarded to its `--dns` upstream (a counter in the outside namespace
 *   stays at 0), while the resolver still answers service names;
 * - ports: a port no service publishes is closed on every host, with or without a replica,
 *   while the published one answers on all of them.
 */
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { decodeGossipResume } from '../../../src/agent/gossip-resume.ts';
import { ENVELOPE_KIND_PACKET, ENVELOPE_KIND_STREAM } from '../../../src/gossip/envelope.ts';
import { createKeyring } from '../../../src/gossip/keyring.ts';
import { encodeFrame, encodePacket } from '../../../src/gossip/wire-codec.ts';
import { readFileSync, statSync } from 'node:fs';
import { testbedPaths } from '../../../src/testbed/state.ts';
import { requireKernel } from '../../support/kernel.ts';
import { type Cluster, exec, inNs, spawnInNs, startCluster } from '../../support/dataplane.ts';
import { randomBytes } from 'node:crypto';
import { waitUntil } from '../../support/wait.ts';

const OUTSIDE = '192.0.2.1';
const hostAddr = (i: number): string => `192.0.2.1${i}`;
/**
 * Probes use source ports from this range, below the kernel's ephemeral ports, so witness
 * counters tell them from the cluster's own traffic; each probe takes the next one (a TCP
 * port just used stays in TIME_WAIT).
 */
const SPORTS = '20000-29999';
let nextSport = 20000;
const sport = (): number => nextSport++;
const WITNESS = 'secwitness';
const GUARDED: Array<['tcp' | 'udp', number]> = [
  ['tcp', 2377],
  ['tcp', 7946],
  ['udp', 7946],
  ['udp', 4789],
];
/** A port nothing guards: the witness of the probes' own path (masquerade keeps the source port). */
const OPEN_UDP = 9;
const OUT_PORT = 9099;

function secPrefix(): string {
  return `sec${randomBytes(1).toString('hex')}-`;
}

interface Drops {
  notSealed: number;
  wrongKind: number;
  unknownKey: number;
  badAuth: number;
  stale: number;
  replayed: number;
  malformed: number;
  total: number;
}

function getJson(socketPath: string, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
  });
}

async function drops(c: Cluster, host: number): Promise<Drops> {
  const a = c.agents().find((x) => x.host === `h${host}`)!;
  const st = (await getJson(join(a.dataDir, 'agent.sock'), '/status')) as { gossip: { drops?: Drops } };
  if (!st.gossip.drops) throw new Error(`h${host}'s agent reports no gossip drops yet`);
  return st.gossip.drops;
}

/** Counters of the witness table: packets per `proto dport` that got past the agent's rules. */
async function witness(ns: string): Promise<Map<string, number>> {
  const r = await inNs(ns, ['nft', 'list', 'table', 'ip', WITNESS]);
  if (r.code !== 0) throw new Error(`nft list in ${ns}: ${r.stderr}`);
  const m = new Map<string, number>();
  for (const x of r.stdout.matchAll(/(tcp|udp) sport [\d-]+ \w+ dport (\d+) counter packets (\d+)/g))
    m.set(`${x[1]}/${x[2]}`, Number(x[3]));
  for (const x of r.stdout.matchAll(/udp dport 53 counter packets (\d+)/g)) m.set('dns', Number(x[1]));
  return m;
}

async function installWitness(ns: string, extra: string[] = []): Promise<void> {
  const rules = [...GUARDED, ['udp', OPEN_UDP] as const].map(([p, port]) => `    ${p} sport ${SPORTS} ${p} dport ${port} counter`);
  const script = `table ip ${WITNESS} {\n  chain input {\n    type filter hook input priority 10; policy accept;\n${[...rules, ...extra].join('\n')}\n  }\n}\n`;
  const r = await exec('sh', ['-c', `nsenter --net=/run/netns/${ns} -- nft -f - <<'EOF'\n${script}EOF`]);
  if (r.code !== 0) throw new Error(`witness table in ${ns}: ${r.stderr}`);
}

/** Sends bytes (hex) as one UDP datagram, or as one length-prefixed stream frame, from a namespace. */
async function sendFrom(ns: string, proto: 'udp' | 'tcp', host: string, port: number, data: Uint8Array): Promise<void> {
  const script =
    proto === 'udp'
      ? `const s=require('dgram').createSocket('udp4');s.send(Buffer.from(process.argv[1],'hex'),${port},'${host}',(e)=>{s.close();if(e)process.exit(2)});`
      : `const b=Buffer.from(process.argv[1],'hex');const l=Buffer.alloc(4);l.writeUInt32BE(b.length);const s=require('net').connect(${port},'${host}',()=>s.end(Buffer.concat([l,b])));s.on('error',()=>process.exit(2));s.on('close',()=>process.exit(0));s.resume();setTimeout(()=>process.exit(0),3000);`;
  const r = await inNs(ns, [process.execPath, '-e', script, Buffer.from(data).toString('hex')]);
  if (r.code !== 0) throw new Error(`send ${proto} to ${host}:${port} from ${ns} failed: ${r.stderr}`);
}

/** Runs argv in a task's sandbox (`shoal exec`); its exit code. */
async function inTask(c: Cluster, task: string, argv: readonly string[]): Promise<{ code: number; out: string }> {
  const r = await c.shoal(['exec', task, '--', ...argv], 60_000);
  return { code: r.code, out: r.stdout + r.stderr };
}

const tcpProbe = (host: string, port: number): string[] => ['nc', '-z', '-n', '-w', '2', '-p', String(sport()), host, String(port)];
const udpProbe = (host: string, port: number): string[] => [
  'sh',
  '-c',
  `printf shoal-security-probe | nc -u -n -w 1 -p ${sport()} ${host} ${port}`,
];
const server = (text: string): string[] => ['socat', 'TCP-LISTEN:80,fork,reuseaddr', `SYSTEM:echo ${text}`];

function vipOn(svc: { endpoint: { virtualIps: Array<{ networkId: string; addr: string }> } }, networkId: string): string {
  const v = svc.endpoint.virtualIps.find((x) => x.networkId === networkId);
  if (!v) throw new Error(`no VIP on ${networkId}`);
  return v.addr.split('/')[0]!;
}

if (requireKernel(t)) {
  t.test('security: gossip drops, task isolation, internal networks, unpublished ports', async (t) => {
    const c = await startCluster(t, 3, secPrefix());
    const sh = c.sh;
    const children: ChildProcess[] = [];
    t.teardown(() => {
      for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
    });
    await sh(['network', 'create', '-d', 'overlay', 'alpha']);
    await sh(['network', 'create', '-d', 'overlay', 'beta']);
    await sh(['network', 'create', '-d', 'overlay', '--internal', 'priv']);
    const alpha = await c.client.inspectNetwork('alpha');
    const beta = await c.client.inspectNetwork('beta');
    const priv = await c.client.inspectNetwork('priv');
    await sh(['service', 'create', '--name', 'a', '--mode', 'global', '--network', 'alpha', '--', ...server('alpha')]);
    await sh(['service', 'create', '--name', 'b', '--replicas', '2', '--network', 'beta', '--publish', '8080:80', '--', ...server('beta')]);
    await sh(['service', 'create', '--name', 'inside', '--network', 'priv', '--dns', OUTSIDE, '--', ...server('inside')]);
    const as = await c.waitRunning('a', 3);
    const bs = await c.waitRunning('b', 2);
    const [inside] = await c.waitRunning('inside', 1);
    const vipA = vipOn(await c.client.inspectService('a'), alpha.id);
    const vipB = vipOn(await c.client.inspectService('b'), beta.id);
    const vipInside = vipOn(await c.client.inspectService('inside'), priv.id);

    // the outside client listens on one TCP port (egress works) and counts DNS queries
    const listener = spawnInNs(c.underlayNs, ['socat', `TCP-LISTEN:${OUT_PORT},fork,reuseaddr`, 'SYSTEM:echo outside']);
    children.push(listener);
    await installWitness(c.underlayNs, ['    udp dport 53 counter']);
    for (let h = 1; h <= 3; h++) await installWitness(c.hostNs(h));

    await t.test('gossip: plaintext, removed-key, replayed and stale input is dropped and counted', async (t) => {
      await waitUntil(async () => (await drops(c, 2)) !== undefined, 60_000, "h2's gossip to run", { retryErrors: true });
      const agent2 = c.agents().find((x) => x.host === 'h2')!;
      const ringOf = () => decodeGossipResume(readFileSync(join(agent2.dataDir, 'gossip.json'), 'utf8'))?.keyring;
      const first = ringOf();
      t.ok(first && first.keys.length > 0, 'the agent keeps its keyring');
      const oldKey = Uint8Array.from(first!.keys.find((k) => k.primary)!.key);
      // rotate until the first key is gone everywhere (a keyring holds 3 keys)
      for (let i = 0; i < 3; i++) await c.client.rotateGossipKey();
      const ring = await waitUntil(
        () => {
          const r = ringOf();
          return r && !r.keys.some((k) => Buffer.from(k.key).equals(Buffer.from(oldKey))) ? r : undefined;
        },
        60_000,
        "the old key to leave h2's keyring",
      );
      const current = Uint8Array.from(ring.keys.find((k) => k.primary)!.key);
      const target = hostAddr(2);
      const port = 7946;
      const before = await drops(c, 2);
      const packet = encodePacket('sec-probe', [{ kind: 'ping', seq: 1, target: 'nobody' }]);
      // plaintext, as a datagram and as a stream frame
      await sendFrom(c.underlayNs, 'udp', target, port, packet);
      await sendFrom(c.underlayNs, 'tcp', target, port, encodeFrame({ from: 'sec-probe', body: { kind: 'done' } }));
      // sealed with the key the cluster removed
      const removed = createKeyring([oldKey]);
      await sendFrom(c.underlayNs, 'udp', target, port, removed.seal(ENVELOPE_KIND_PACKET, packet));
      await sendFrom(c.underlayNs, 'tcp', target, port, removed.seal(ENVELOPE_KIND_STREAM, packet));
      // sealed with the current key long ago (a capture sent later)
      const past = createKeyring([current], 0, { clock: { wallNow: () => Date.now() - 3_600_000 } });
      await sendFrom(c.underlayNs, 'udp', target, port, past.seal(ENVELOPE_KIND_PACKET, packet));
      // a fresh, valid datagram, then the same bytes again (a replay)
      const live = createKeyring([current]);
      const once = live.seal(ENVELOPE_KIND_PACKET, packet);
      await sendFrom(c.underlayNs, 'udp', target, port, once);
      await sendFrom(c.underlayNs, 'udp', target, port, once);
      await sendFrom(c.underlayNs, 'udp', target, port, once);
      const after = await waitUntil(
        async () => {
          const d = await drops(c, 2);
          return d.notSealed >= before.notSealed + 2 &&
            d.unknownKey >= before.unknownKey + 2 &&
            d.stale >= before.stale + 1 &&
            d.replayed >= before.replayed + 2
            ? d
            : undefined;
        },
        30_000,
        'every drop to be counted',
        { retryErrors: true },
      ).catch(async () => drops(c, 2));
      t.equal(after.notSealed - before.notSealed, 2, 'plaintext datagram and frame: notSealed');
      t.equal(after.unknownKey - before.unknownKey, 2, 'removed key, datagram and frame: unknownKey');
      t.equal(after.stale - before.stale, 1, 'an hour-old envelope: stale');
      t.equal(after.replayed - before.replayed, 2, 'the same datagram twice more: replayed');
      t.equal(after.badAuth - before.badAuth, 0, 'nothing failed authentication');
      const info = (await getJson(join(agent2.dataDir, 'agent.sock'), '/info')) as { gossipDrops?: Drops };
      t.ok((info.gossipDrops?.total ?? 0) >= after.total, 'GET /info (shoal info) reports the drops too');
      // and gossip itself goes on: every agent sees the other two alive
      await waitUntil(
        async () => {
          const a = c.agents().find((x) => x.host === 'h2')!;
          const st = (await getJson(join(a.dataDir, 'agent.sock'), '/status')) as { gossip: { members: Array<{ state: string }> } };
          return st.gossip.members.filter((m) => m.state === 'alive').length >= 3 || undefined;
        },
        30_000,
        "h2's gossip to see three alive members after the rotations",
        { retryErrors: true },
      );
      t.pass('gossip works with the rotated keys');
    });

    await t.test("isolation: a task reaches no other network and no host's control ports", async (t) => {
      // the probing task sits on a host with a replica of b
      const bHere = bs[0]!;
      const aHere = as.find((x) => x.host === bHere.host)!;
      const probeHost = aHere.host;
      t.comment(`probing from a's task on h${probeHost}`);
      // positive controls: each network works within itself, and a reaches out
      t.match((await inTask(c, aHere.id, ['nc', '-n', '-w', '3', vipA, '80'])).out, /alpha/, 'a reaches its own VIP');
      t.match((await inTask(c, bHere.id, ['nc', '-n', '-w', '3', vipB, '80'])).out, /beta/, 'b reaches its own VIP');
      t.match((await inTask(c, aHere.id, ['nc', '-n', '-w', '3', OUTSIDE, String(OUT_PORT)])).out, /outside/, 'a reaches the outside');
      const bEgress = /inet (172\.18\.\d+\.\d+)/.exec((await inTask(c, bHere.id, ['ip', '-o', '-4', 'addr', 'show'])).out)?.[1];
      t.ok(bEgress, `b's task has an egress address (${bEgress})`);
      for (const [what, addr] of [
        ["b's VIP", vipB],
        ...bs.map((x) => [`b's task on h${x.host}`, x.ip] as [string, string]),
        ["b's task's egress address", bEgress!],
      ] as Array<[string, string]>) {
        const r = await inTask(c, aHere.id, ['nc', '-z', '-n', '-w', '2', addr, '80']);
        t.not(r.code, 0, `a cannot reach ${what} (${addr}:80)`);
      }
      // the control ports answer the outside client (so a refusal below is the rules' doing)
      t.equal((await inNs(c.underlayNs, tcpProbe(hostAddr(1), 2377))).code, 0, 'the manager API answers from outside');
      for (let h = 1; h <= 3; h++)
        t.equal((await inNs(c.underlayNs, tcpProbe(hostAddr(h), 7946))).code, 0, `h${h}'s gossip TCP answers from outside`);
      for (let h = 1; h <= 3; h++) for (const port of [7946, 4789, OPEN_UDP]) await inNs(c.underlayNs, udpProbe(hostAddr(h), port));
      const seen = await waitUntil(
        async () => {
          const all = await Promise.all([1, 2, 3].map((h) => witness(c.hostNs(h))));
          return all.every((w) => GUARDED.every(([p, port]) => (w.get(`${p}/${port}`) ?? 0) > 0 || (p === 'tcp' && port === 2377)))
            ? all
            : undefined;
        },
        20_000,
        'the witnesses to count the outside probes',
      );
      t.ok((seen[0]!.get('tcp/2377') ?? 0) > 0, 'the witness on h1 counted the outside SYN to 2377');
      // from the task: every host address, and its own gateway
      const base = await Promise.all([1, 2, 3].map((h) => witness(c.hostNs(h))));
      const targets = [hostAddr(1), hostAddr(2), hostAddr(3), '172.18.0.1'];
      for (const addr of targets) {
        for (const [p, port] of GUARDED) {
          if (p === 'tcp') t.not((await inTask(c, aHere.id, tcpProbe(addr, port))).code, 0, `tcp ${addr}:${port} is not reached`);
          else await inTask(c, aHere.id, udpProbe(addr, port));
        }
      }
      // the path itself is open for other ports: this probe must arrive (masquerade keeps the port)
      for (const h of [probeHost, probeHost === 3 ? 1 : 3]) {
        await inTask(c, aHere.id, udpProbe(hostAddr(h), OPEN_UDP));
        await waitUntil(
          async () => ((await witness(c.hostNs(h))).get(`udp/${OPEN_UDP}`) ?? 0) > (base[h - 1]!.get(`udp/${OPEN_UDP}`) ?? 0) || undefined,
          20_000,
          `the task's probe of an unguarded port to reach h${h}`,
        );
        t.pass(`an unguarded port of h${h}${h === probeHost ? ' (its own host)' : ''} is reached from the task (the probes' path works)`);
      }
      const now = await Promise.all([1, 2, 3].map((h) => witness(c.hostNs(h))));
      for (let h = 1; h <= 3; h++) {
        for (const [p, port] of GUARDED) {
          const k = `${p}/${port}`;
          t.equal(now[h - 1]!.get(k) ?? 0, base[h - 1]!.get(k) ?? 0, `nothing from the task reached h${h}'s ${k}`);
        }
      }
      // the rules are the agent's, and doctor compares them
      const table = await inNs(c.hostNs(probeHost), ['nft', 'list', 'table', 'ip', `${c.agentPrefix(probeHost)}egress`]);
      t.match(table.stdout, /tcp dport \{ 2377, 7946 \} drop/, 'the guard rule for TCP');
      t.match(table.stdout, /udp dport \{ 4789, 7946 \} drop/, 'the guard rule for UDP');
      const clean = await waitUntil(
        async () => {
          const r = await c.shoal(['doctor', '--all']);
          return r.code === 0 ? r : undefined;
        },
        60_000,
        'doctor to find every node clean',
        { retryErrors: true, intervalMs: 1000 },
      ).catch(async () => c.shoal(['doctor', '--all']));
      t.equal(clean.code, 0, `doctor: no differences (${clean.stdout}${clean.stderr})`);
    });

    await t.test('local sockets: the manager and every agent answer on unix sockets of mode 0600', async (t) => {
      const sockets = [
        join(testbedPaths(c.prefix).root, 'data', 'h1', 'manager.sock'),
        ...c.agents().map((a) => join(a.dataDir, 'agent.sock')),
      ];
      for (const path of sockets) t.equal((statSync(path).mode & 0o777).toString(8), '600', `${path} is mode 0600`);
    });

    await t.test('internal network: no way out, no forwarding, names still answer', async (t) => {
      const id = inside!.id;
      t.not((await inTask(c, id, ['nc', '-z', '-n', '-w', '2', OUTSIDE, String(OUT_PORT)])).code, 0, 'the outside is not reached');
      t.not((await inTask(c, id, tcpProbe(hostAddr(1), 2377))).code, 0, 'nor the manager');
      const routes = (await inTask(c, id, ['ip', '-4', 'route', 'show', 'default'])).out.trim();
      t.equal(routes, '', 'no default route');
      const dnsBefore = (await witness(c.underlayNs)).get('dns') ?? 0;
      const ext = await inTask(c, id, ['dig', '+time=3', '+tries=1', 'example.org']);
      t.match(ext.out, /status: REFUSED/, 'an external name is refused at once, not forwarded');
      const own = await inTask(c, id, ['dig', '+short', 'inside']);
      t.equal(own.out.trim(), vipInside, "its own service's name answers its VIP");
      t.match((await inTask(c, id, ['nc', '-n', '-w', '3', 'inside', '80'])).out, /inside/, 'and the VIP serves');
      t.equal((await witness(c.underlayNs)).get('dns') ?? 0, dnsBefore, 'no query reached the --dns upstream');
    });

    await t.test('ports: only the published one answers, on every host', async (t) => {
      const withReplica = new Set(bs.map((x) => x.host));
      for (let h = 1; h <= 3; h++) {
        const tag = withReplica.has(h) ? 'with a replica' : 'without a replica';
        const ok = await waitUntil(
          async () => {
            const r = await inNs(c.underlayNs, ['nc', '-n', '-w', '3', hostAddr(h), '8080']);
            return /beta/.test(r.stdout) ? r : undefined;
          },
          30_000,
          `8080 to answer on h${h}`,
        );
        t.match(ok.stdout, /beta/, `h${h} (${tag}): the published 8080 answers`);
        for (const port of [8081, 80]) {
          t.not(
            (await inNs(c.underlayNs, ['nc', '-z', '-n', '-w', '2', hostAddr(h), String(port)])).code,
            0,
            `h${h} (${tag}): ${port} is closed`,
          );
        }
      }
    });

    await t.test('gossip after a restart: the restarted agent and its peers hear each other at once', async (t) => {
      const rec = c.agents().find((x) => x.host === 'h3')!;
      process.kill(rec.pid, 'SIGKILL');
      await waitUntil(
        () => {
          try {
            process.kill(rec.pid, 0);
            return undefined;
          } catch {
            return true;
          }
        },
        10_000,
        "h3's agent to die",
      );
      c.startAgent(3, 'sec-restart');
      const membersAlive = async (host: number): Promise<number> => {
        const a = c.agents().find((x) => x.host === `h${host}`)!;
        const st = (await getJson(join(a.dataDir, 'agent.sock'), '/status')) as {
          gossip: { members: Array<{ name: string; state: string }> };
        };
        return st.gossip.members.filter((m) => m.state === 'alive').length;
      };
      for (const h of [3, 2, 1]) {
        await waitUntil(async () => ((await membersAlive(h)) >= 3 ? true : undefined), 60_000, `h${h} to see three alive members`, {
          retryErrors: true,
        });
        t.pass(`h${h} sees all three nodes alive after h3's restart`);
      }
      const d3 = await drops(c, 3);
      t.equal(
        d3.replayed + d3.badAuth + d3.unknownKey,
        0,
        `the restarted agent drops nothing authentic as a replay (${JSON.stringify(d3)})`,
      );
    });
  });
}
