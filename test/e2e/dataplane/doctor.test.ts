/**
 * Scenario 13, with real kernel state in a 3-host testbed: a service on an overlay, then
 * on host h2, behind its agent's back, one permanent neighbour and one fdb entry deleted
 * in the overlay's namespace, the service's VIP deleted from the `vips` set of a task
 * sandbox's load-balancer table, and that sandbox's veth on the overlay deleted. Then:
 *
 * - `shoal doctor --all` lists each of them under h2, grouped by kind (the veth pair, the
 *   address on it, the neighbour, the fdb entry, the set element), and exits 1; h1 and h3
 *   are not listed;
 * - `shoal doctor --node h2 --format json` has them as objects;
 * - `shoal doctor --all --repair` puts them back (read back from the kernel; the task on h2
 *   reaches the remote task and the VIP again) and exits 0;
 * - a following `shoal doctor --all` is clean: one line, exit 0;
 * - with h3's agent stopped, `shoal doctor --all` reports h3 not checked with
 *   SHOAL_ERR_AGENT_UNAVAILABLE and exits 1, and still checks h1 and h2.
 *
 * The agent's own full resync (every 60 s) repairs drift too: an attempt during which any
 * sync of h2's agent ran (its status counters moved) is made again, so what doctor printed
 * is always compared with a kernel no sync touched in between.
 */
import { join } from 'node:path';
import t from 'tap';
import type { AgentStatus } from '../../../src/agent/agent.ts';
import { lbTableName } from '../../../src/agent/lb-model.ts';
import { localApiRequest } from '../../../src/agent/local-client.ts';
import { testbedPaths } from '../../../src/testbed/state.ts';
import { exec, inNs, permanentNeighbours, startCluster, vxlanFdb } from '../../support/dataplane.ts';
import { requireKernel } from '../../support/kernel.ts';
import { waitUntil } from '../../support/wait.ts';

const SERVER = ['socat', 'TCP-LISTEN:7000,fork,reuseaddr', 'SYSTEM:echo hello-from-$HOSTNAME'];
const ATTEMPTS = 4;

const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

if (requireKernel(t)) {
  t.test('scenario 13: shoal doctor lists per node what the kernel lacks or has extra, and --repair fixes it', async (t) => {
    const c = await startCluster(t, 3);
    await c.sh(['network', 'create', '-d', 'overlay', 'front']);
    await c.sh(['service', 'create', '--name', 'web', '--replicas', '3', '--network', 'front', '--', ...SERVER]);
    const tasks = await c.waitRunning('web', 3);
    const front = await c.client.inspectNetwork('front');
    const svc = await c.client.inspectService('web');
    const vip = svc.endpoint.virtualIps.find((v) => v.networkId === front.id)?.addr.split('/')[0] ?? '';
    t.not(vip, '', 'the service has a VIP on front');
    const local = tasks.find((x) => x.host === 2);
    const remote = tasks.find((x) => x.host !== 2);
    if (!local || !remote) throw new Error(`want a task on h2 and one elsewhere: ${tasks.map((x) => x.host).join(',')}`);
    const ovNs = c.overlayNs(front.id, 2);
    const sbNs = c.sandboxNs(local.id, local.nodeId);
    const table = lbTableName(c.agentPrefix(2));
    const socket = join(testbedPaths(c.prefix).dataDir(2), 'agent.sock');
    const syncs = async (): Promise<string> => {
      const st = (await localApiRequest(socket, 'GET', '/status')).body as AgentStatus;
      return `${st.overlay.syncs}/${st.overlay.failures} ${st.lb.syncs}/${st.lb.failures}`;
    };

    const cleanAll = await waitUntil(
      async () => {
        const r = await c.shoal(['doctor', '--all']);
        return r.code === 0 ? r : false;
      },
      90_000,
      'doctor --all to find every node clean once the service runs',
      { retryErrors: true, intervalMs: 500 },
    ).catch(async () => c.shoal(['doctor', '--all']));
    t.equal(cleanAll.code, 0, `converged: ${cleanAll.stdout}${cleanAll.stderr}`);
    t.equal(cleanAll.stdout, 'clean: no differences on 3 nodes\n', 'clean is one line');

    // the remote endpoint's entries as h2 programs them
    const rows = JSON.parse((await exec('ip', ['-j', '-n', ovNs, 'neigh', 'show', 'nud', 'permanent'])).stdout || '[]') as Array<{
      dst: string;
      dev: string;
      lladdr: string;
    }>;
    const row = rows.find((x) => x.dst === remote.ip);
    if (!row) throw new Error(`h2 has no neighbour entry for ${remote.ip} in ${ovNs}`);
    const mac = row.lladdr;
    const vtep = (await vxlanFdb(ovNs)).get(mac) ?? '';
    t.not(vtep, '', `h2 has an fdb entry for ${mac}`);
    const hasElement = async (): Promise<boolean> => {
      const r = await inNs(sbNs, ['nft', '-j', 'list', 'set', 'ip', table, 'vips']);
      return r.code === 0 && r.stdout.includes(`"${vip}"`);
    };
    t.ok(await hasElement(), `the sandbox's ${table} vips set holds ${vip}`);
    const addrs = JSON.parse((await inNs(sbNs, ['ip', '-j', 'addr', 'show'])).stdout || '[]') as Array<{
      ifname: string;
      addr_info: Array<{ local: string; prefixlen: number }>;
    }>;
    const iface = addrs.find((l) => l.addr_info.some((a) => a.local === local.ip));
    if (!iface) throw new Error(`the sandbox ${sbNs} has no link with ${local.ip}`);
    const prefixLen = iface.addr_info.find((a) => a.local === local.ip)!.prefixlen;
    const hasVeth = async (): Promise<boolean> => (await inNs(sbNs, ['ip', 'link', 'show', iface.ifname])).code === 0;
    const broken = async (): Promise<boolean> =>
      !(await permanentNeighbours(ovNs)).has(remote.ip) && !(await vxlanFdb(ovNs)).has(mac) && !(await hasElement()) && !(await hasVeth());
    const reaches = async (ip: string): Promise<string> =>
      (await inNs(sbNs, ['socat', '-T', '3', '-', `TCP:${ip}:7000,connect-timeout=3`], 10_000)).stdout.trim();
    t.match(await reaches(remote.ip), /^hello-from-/, 'before: the task on h2 reaches the remote task');

    const neighLine = new RegExp(`^    \\+ neigh ${reEscape(ovNs)} ${reEscape(remote.ip)} lladdr ${mac} dev ${row.dev} permanent$`, 'm');
    const fdbLine = new RegExp(`^    \\+ fdb ${reEscape(ovNs)} ${mac} dev ${row.dev} dst ${reEscape(vtep)} self permanent$`, 'm');
    // the pair is created from its end in the overlay namespace, the bridge's port
    const vethLine = new RegExp(
      `^    \\+ link ${reEscape(ovNs)} \\S+ veth .* peer ${reEscape(sbNs)}/${reEscape(iface.ifname)} ; link ${reEscape(iface.ifname)} veth .*`,
      'm',
    );
    const addrLine = new RegExp(`^    \\+ addr ${reEscape(sbNs)} ${reEscape(local.ip)}/${prefixLen} dev ${reEscape(iface.ifname)}$`, 'm');
    const nftLine = new RegExp(`^    \\+ nft ${reEscape(sbNs)} ip ${reEscape(table)}: element vips: ${reEscape(vip)}$`, 'm');
    let checked = false;
    for (let attempt = 1; attempt <= ATTEMPTS && !checked; attempt++) {
      const before = await syncs();
      for (const argv of [
        ['ip', '-n', ovNs, 'neigh', 'del', remote.ip, 'dev', row.dev],
        ['bridge', '-n', ovNs, 'fdb', 'del', mac, 'dev', row.dev, 'dst', vtep, 'self'],
      ]) {
        const r = await exec(argv[0]!, argv.slice(1));
        if (r.code !== 0 && !/No such file|Cannot find|not found/i.test(r.stderr)) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
      }
      const del = await inNs(sbNs, ['nft', 'delete', 'element', 'ip', table, 'vips', `{ ${vip} }`]);
      if (del.code !== 0 && !/No such file/.test(del.stderr)) throw new Error(`nft delete element: ${del.stderr}`);
      const veth = await inNs(sbNs, ['ip', 'link', 'del', iface.ifname]);
      if (veth.code !== 0 && !/Cannot find/.test(veth.stderr)) throw new Error(`ip link del: ${veth.stderr}`);
      const all = await c.shoal(['doctor', '--all']);
      const json = await c.shoal(['doctor', '--node', 'h2', '--format', 'json']);
      const untouched = (await syncs()) === before && (await broken());
      if (!untouched) {
        t.comment(`attempt ${attempt}: a sync of h2's agent ran meanwhile; again`);
        continue;
      }
      checked = true;
      t.equal(all.code, 1, `doctor --all exits 1: ${all.stderr}`);
      const h2 = all.stdout.indexOf(`h2 (${local.nodeId.slice(0, 12)})\n`);
      t.equal(h2, 0, `h2 is the first and only node listed:\n${all.stdout}`);
      t.notMatch(all.stdout, /^h[13] /m, 'h1 and h3 are clean and not listed');
      t.match(all.stdout, /^ {2}neigh\n/m, 'grouped by kind: neigh');
      t.match(all.stdout, neighLine, 'the missing neighbour');
      t.match(all.stdout, /^ {2}fdb\n/m, 'fdb');
      t.match(all.stdout, fdbLine, 'the missing fdb entry');
      t.match(all.stdout, /^ {2}nft\n/m, 'nft');
      t.match(all.stdout, nftLine, 'the missing set element');
      t.match(all.stdout, /^ {2}link\n/m, 'link');
      t.match(all.stdout, vethLine, "the sandbox's missing veth");
      t.match(all.stdout, /^ {2}addr\n/m, 'addr');
      t.match(all.stdout, addrLine, 'and the address that went with it');
      const kinds = [...all.stdout.matchAll(/^ {2}(\w+)$/gm)].map((m) => m[1]);
      t.same(kinds.slice(0, 2), ['link', 'addr'], 'kinds in the order the applier goes');
      t.same(kinds.slice(-3), ['neigh', 'fdb', 'nft']);
      const count = Number(/\n(\d+) differences on 1 node\n$/.exec(all.stdout)?.[1] ?? 0);
      t.ok(count >= 5, `then the count (${count})`);

      t.equal(json.code, 1, 'the JSON run exits 1 too');
      const doc = JSON.parse(json.stdout) as {
        clean: boolean;
        differences: number;
        nodes: Array<{ nodeName: string; nodeId: string; checked: boolean; differences: Array<Record<string, string>> }>;
      };
      t.match(doc, { clean: false, differences: count, notChecked: 0, repair: false });
      t.equal(doc.nodes.length, 1);
      t.match(doc.nodes[0], { nodeName: 'h2', nodeId: local.nodeId, checked: true, clean: false });
      const objects = doc.nodes[0]?.differences.map((d) => [d['kind'], d['change'], d['netns']]) ?? [];
      t.same(
        objects.filter((o) => o[0] === 'neigh' || o[0] === 'fdb' || o[0] === 'nft'),
        [
          ['neigh', 'add', ovNs],
          ['fdb', 'add', ovNs],
          ['nft', 'add', sbNs],
        ],
        'the neighbour, the fdb entry and the element as objects',
      );
      t.ok(
        doc.nodes[0]?.differences.some((d) => d['kind'] === 'link' && d['netns'] === ovNs && vethLine.test(`    + ${d['text']}`)),
        'and the veth',
      );

      const before2 = await syncs();
      const repair = await c.shoal(['doctor', '--all', '--repair']);
      t.equal(repair.code, 0, `the repair exits 0: ${repair.stdout}${repair.stderr}`);
      if (before2 === before)
        t.equal(repair.stdout, `clean: repaired ${count} differences, no differences on 3 nodes\n`, 'it says what it repaired');
      else t.match(repair.stdout, /^clean: /);
    }
    t.ok(checked, `an attempt without a sync of h2's agent in between, in ${ATTEMPTS}`);
    t.ok((await permanentNeighbours(ovNs)).get(remote.ip) === mac, 'the neighbour is back in the kernel');
    t.equal((await vxlanFdb(ovNs)).get(mac), vtep, 'the fdb entry is back');
    t.ok(await hasElement(), 'the VIP is back in the vips set');
    t.ok(await hasVeth(), "the sandbox's veth is back");
    t.match(await reaches(remote.ip), /^hello-from-/, 'the task on h2 reaches the remote task again');
    t.match(await reaches(vip), /^hello-from-/, 'and the VIP');
    const after = await c.shoal(['doctor', '--all']);
    t.equal(after.code, 0, 'then doctor --all exits 0');
    t.equal(after.stdout, 'clean: no differences on 3 nodes\n');

    // a stopped agent: not checked, with its code; the others still are
    const h3 = c.agents().find((a) => a.host === 'h3');
    if (!h3) throw new Error('the testbed records no agent for h3');
    process.kill(h3.pid, 'SIGKILL');
    await waitUntil(
      async () => (await c.client.inspectNode(h3.nodeId)).status.state !== 'ready',
      60_000,
      "the manager to see h3's agent gone",
      { retryErrors: true, intervalMs: 200 },
    );
    const stopped = await c.shoal(['doctor', '--all']);
    t.equal(stopped.code, 1, 'a node not checked: exit 1');
    t.match(
      stopped.stdout,
      new RegExp(`^h3 \\(${h3.nodeId.slice(0, 12)}\\)\\n  not checked: .+ \\(SHOAL_ERR_AGENT_UNAVAILABLE\\)$`, 'm'),
      'h3 with its stable code',
    );
    t.match(stopped.stdout, /\n0 differences on 0 nodes; 1 node not checked\n$/, 'h1 and h2 were checked and are clean');
    const sj = JSON.parse((await c.shoal(['doctor', '--all', '--format', 'json'])).stdout) as {
      nodes: Array<{ nodeName: string; checked: boolean; clean: boolean; errorCode: string }>;
    };
    t.same(
      sj.nodes.map((n) => [n.nodeName, n.checked, n.clean, n.errorCode]),
      [
        ['h1', true, true, ''],
        ['h2', true, true, ''],
        ['h3', false, false, 'SHOAL_ERR_AGENT_UNAVAILABLE'],
      ],
    );
  });
}
