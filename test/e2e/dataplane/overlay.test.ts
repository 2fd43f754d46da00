/**
 * Acceptance of the overlay data plane, with real packets in a 3-host testbed (a manager in
 * h1, an agent in every host, all started by `shoal testbed up`):
 *
 * - overlay `front` (10.0.0.0/24) and a 3-replica service running a real TCP server, one
 *   task per host: every task pings and connects to every other across hosts, and no ARP
 *   request crosses the underlay inside VXLAN (an nft counter on the underlay bridge
 *   counts encapsulated ARP, and, as the positive control, encapsulated packets at all);
 * - a DF ping of exactly the overlay MTU passes, one byte more fails;
 * - scale 3 -> 10 -> 2: the remote neighbour and fdb entries on every host match the
 *   running endpoints within 1 s of the manager reporting them running;
 * - a second overlay cannot reach the first; an --internal network has no route out; a
 *   normal network reaches the outside client 192.0.2.1;
 * - `shoal exec` into a task on another host returns its output and exit code;
 * - `shoal doctor` on each host finds nothing to change.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { requireKernel } from '../../support/kernel.ts';
import { type Cluster, inNs, permanentNeighbours, startCluster, vxlanFdb } from '../../support/dataplane.ts';
import { waitUntil } from '../../support/wait.ts';
import { testbedPaths } from '../../../src/testbed/state.ts';

const SERVER = ['socat', 'TCP-LISTEN:7000,fork,reuseaddr', 'SYSTEM:echo hello-from-$HOSTNAME'];

/** The live endpoints of a network as every host must program them: remote IP -> MAC. */
async function expectedRemotes(c: Cluster, networkId: string, host: number): Promise<Map<string, string>> {
  const eps = (await c.client.networkEndpoints(networkId)).endpoints;
  const out = new Map<string, string>();
  for (const e of eps) {
    if (e.kind !== 'task' || e.nodeId === '' || e.state === 'down') continue;
    if (c.hostOf(e.nodeId) === host) continue;
    out.set(e.addr.split('/')[0]!, e.mac);
  }
  return out;
}

function same(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Waits until every host with the network's namespace programs exactly the running remote endpoints; returns ms taken. */
async function converged(c: Cluster, networkId: string, hosts: number[], timeoutMs: number): Promise<number> {
  const started = Date.now();
  await waitUntil(
    async () => {
      for (const h of hosts) {
        const want = await expectedRemotes(c, networkId, h);
        const ns = c.overlayNs(networkId, h);
        const neigh = await permanentNeighbours(ns);
        if (!same(neigh, want)) return false;
        const fdb = await vxlanFdb(ns);
        if (fdb.size !== want.size || [...want.values()].some((mac) => !fdb.has(mac))) return false;
      }
      return true;
    },
    timeoutMs,
    `neighbour and fdb entries of ${networkId} to match the live endpoints on hosts ${hosts.join(',')}`,
    { intervalMs: 25 },
  );
  return Date.now() - started;
}

if (requireKernel(t)) {
  t.test('overlay data plane across three hosts', async (t) => {
    const c = await startCluster(t, 3);
    const sh = c.sh;

    await sh(['network', 'create', '-d', 'overlay', 'front']);
    const front = await c.client.inspectNetwork('front');
    t.equal(front.ipam[0]?.subnet, '10.0.0.0/24', 'front takes 10.0.0.0/24 from the default pool');

    // count VXLAN traffic on the underlay bridge: all of it, and encapsulated ARP
    const nftTable = 'shoal_test_arp';
    const rules = [
      `table bridge ${nftTable} {`,
      '  chain count {',
      '    type filter hook forward priority 0; policy accept;',
      '    udp dport 4789 counter comment "vxlan_all"',
      // inner EtherType: UDP header 8 + VXLAN header 8 + MACs 12 = byte 28 of the transport header
      '    udp dport 4789 @th,224,16 0x0806 counter comment "vxlan_arp"',
      '  }',
      '}',
    ].join('\n');
    const rulesFile = join(mkdtempSync(join(tmpdir(), 'shoal-e2e-nft-')), 'arp.nft');
    writeFileSync(rulesFile, `${rules}\n`);
    t.teardown(() => rmSync(dirname(rulesFile), { recursive: true, force: true }));
    const load = await inNs(c.underlayNs, ['nft', '-f', rulesFile]);
    t.equal(load.code, 0, `counters loaded on the underlay ${load.stderr}`);
    const counter = async (name: string): Promise<number> => {
      const r = await inNs(c.underlayNs, ['nft', '-j', 'list', 'chain', 'bridge', nftTable, 'count']);
      const doc = JSON.parse(r.stdout) as {
        nftables: Array<{ rule?: { comment?: string; expr: Array<{ counter?: { packets: number } }> } }>;
      };
      const rule = doc.nftables.find((x) => x.rule?.comment === name)?.rule;
      return rule?.expr.find((e) => e.counter)?.counter?.packets ?? -1;
    };

    await sh(['service', 'create', '--name', 'web', '--replicas', '3', '--network', 'front', '--', ...SERVER]);
    const tasks = await c.waitRunning('web', 3);
    t.same([...new Set(tasks.map((x) => x.host))].sort(), [1, 2, 3], 'one task per host');
    await converged(c, front.id, [1, 2, 3], 10_000);

    await t.test('scenario 4: every task pings and connects to every other across hosts', async (t) => {
      for (const a of tasks) {
        const ns = c.sandboxNs(a.id, a.nodeId);
        for (const b of tasks) {
          if (a.id === b.id) continue;
          const ping = await inNs(ns, ['ping', '-c', '1', '-W', '2', b.ip]);
          t.equal(ping.code, 0, `h${a.host} ${a.ip} pings h${b.host} ${b.ip}`);
          const tcp = await inNs(ns, ['socat', '-T', '3', '-', `TCP:${b.ip}:7000,connect-timeout=3`]);
          t.match(tcp.stdout, /hello-from-/, `h${a.host} opens a TCP connection to h${b.host}`);
        }
      }
      const arp = await counter('vxlan_arp');
      const all = await counter('vxlan_all');
      t.ok(all > 0, `VXLAN packets crossed the underlay (${all})`);
      t.equal(arp, 0, 'no ARP request crossed the underlay inside VXLAN');
    });

    await t.test('a DF ping of exactly the overlay MTU passes, one byte more fails', async (t) => {
      const [a, b] = [tasks[0]!, tasks[1]!];
      const ns = c.sandboxNs(a.id, a.nodeId);
      const link = JSON.parse((await inNs(ns, ['ip', '-j', 'link', 'show', 'eth0'])).stdout) as Array<{ mtu: number }>;
      const mtu = link[0]!.mtu;
      t.equal(mtu, 1450, 'overlay MTU = underlay 1500 - 50');
      const fits = await inNs(ns, ['ping', '-M', 'do', '-c', '1', '-W', '2', '-s', String(mtu - 28), b.ip]);
      t.equal(fits.code, 0, `${mtu - 28} bytes of payload pass with DF`);
      const over = await inNs(ns, ['ping', '-M', 'do', '-c', '1', '-W', '2', '-s', String(mtu - 27), b.ip]);
      t.not(over.code, 0, `${mtu - 27} bytes do not`);
    });

    await t.test('scenario 6: scale 3 -> 10 -> 2: every host programs exactly the live endpoints within 1 s', async (t) => {
      for (const n of [10, 2]) {
        await sh(['service', 'scale', `web=${n}`]);
        const live = await c.waitRunning('web', n);
        const hosts = [...new Set(live.map((x) => x.host))].sort();
        const ms = await converged(c, front.id, hosts, 1000).catch((err: Error) => {
          t.fail(err.message);
          return -1;
        });
        t.ok(ms >= 0, `after scaling to ${n}, entries on hosts ${hosts.join(',')} matched ${ms} ms after the tasks ran`);
        for (const h of [1, 2, 3].filter((x) => !hosts.includes(x))) {
          await waitUntil(
            async () =>
              (await inNs(c.hostNs(h), ['ip', 'netns', 'list'])).stdout.split('\n').every((l) => !l.startsWith(c.overlayNs(front.id, h))),
            5000,
            `h${h} (no task of front left) to remove front's namespace`,
          );
        }
      }
    });

    await t.test('scenario 4, scenario 11: overlays are isolated; internal has no route out; others reach out', async (t) => {
      await sh(['network', 'create', '-d', 'overlay', 'back']);
      await sh(['network', 'create', '-d', 'overlay', '--internal', 'priv']);
      await sh(['service', 'create', '--name', 'other', '--replicas', '2', '--network', 'back', '--', 'sleep', 'infinity']);
      await sh(['service', 'create', '--name', 'closed', '--replicas', '1', '--network', 'priv', '--', 'sleep', 'infinity']);
      const others = await c.waitRunning('other', 2);
      const [closed] = await c.waitRunning('closed', 1);
      const webs = await c.waitRunning('web', 2);
      for (const o of others) {
        const ns = c.sandboxNs(o.id, o.nodeId);
        for (const w of webs) {
          const r = await inNs(ns, ['ping', '-c', '1', '-W', '1', w.ip]);
          t.not(r.code, 0, `a task on back (h${o.host}) cannot reach web on front (h${w.host} ${w.ip})`);
        }
      }
      const closedNs = c.sandboxNs(closed!.id, closed!.nodeId);
      const routes = (await inNs(closedNs, ['ip', 'route', 'show', 'default'])).stdout.trim();
      t.equal(routes, '', 'a task on an internal network has no default route');
      const noOut = await inNs(closedNs, ['ping', '-c', '1', '-W', '1', '192.0.2.1']);
      t.not(noOut.code, 0, 'and cannot reach the outside client');
      const w = webs[0]!;
      const out = await inNs(c.sandboxNs(w.id, w.nodeId), ['ping', '-c', '1', '-W', '2', '192.0.2.1']);
      t.equal(out.code, 0, `a task on a normal network reaches the outside client ${out.stdout}`);
    });

    await t.test('shoal exec into a task on another host returns its output and exit code', async (t) => {
      const w = (await c.waitRunning('web', 2)).find((x) => x.host !== 1) ?? (await c.waitRunning('web', 2))[0]!;
      const r = await c.shoal(['exec', w.id, '--', 'sh', '-c', 'echo out-$HOSTNAME; echo err >&2; exit 3']);
      t.equal(r.code, 3, 'the exit code of the command');
      t.match(r.stdout, /^out-/, 'its stdout');
      t.match(r.stderr, /err/, 'its stderr');
    });

    await t.test('shoal doctor finds nothing to change on any host', async (t) => {
      for (let h = 1; h <= 3; h++) {
        const dataDir = testbedPaths(c.prefix).dataDir(h);
        const r = await waitUntil(
          async () => {
            const d = await c.shoal(['doctor', '--data-dir', dataDir]);
            return d.code === 0 ? d : false;
          },
          10_000,
          `doctor on h${h} to report no drift`,
        ).catch(async () => c.shoal(['doctor', '--data-dir', dataDir]));
        t.equal(r.code, 0, `h${h}: ${r.stdout.trim()} ${r.stderr.trim()}`);
      }
    });
  });
}
