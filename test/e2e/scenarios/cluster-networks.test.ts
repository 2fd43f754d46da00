/**
 * User scenarios 1, 2, 3 and 5 (docs/scenarios.md) on one 2-host testbed cluster (a
 * manager in h1, a real agent in each host, joined by `shoal testbed up` with the worker
 * token), through the CLI as an operator types it, with real packets where the scenario
 * promises traffic:
 *
 * - bootstrap: `node ls` shows every node Ready and Active with one Leader; the worker and
 *   manager join tokens differ; `shoal agent --join-token` with a wrong token, and with the
 *   token of another cluster (a second manager's), exits 1 with one line naming the code,
 *   and adds no node;
 * - default networks: `ingress` inspects as Docker's (swarm scope, 10.255.0.0/16, gateway
 *   .1, VXLAN ID 4096, Ingress true) and its VXLAN device on every host carries VNI 4096;
 *   every host has the gateway bridge for egress and a task reaches the outside client
 *   through it; `network rm ingress` is refused with its code;
 * - an overlay created with every flag: tasks get addresses inside --ip-range and never
 *   the --aux-address, the --gateway is on the bridge, tasks on both hosts reach each other
 *   (an --ipv6 network gives them IPv6 addresses too), an --internal network reaches nothing outside;
 *   without --subnet a network takes the next free /24 of the default pool; an overlapping
 *   subnet is refused and nothing is created; inspect has Docker's keys, the VXLAN ID list
 *   and both hosts as Peers; `rm` of a network in use is refused while the other names of
 *   the same command are removed;
 * - publishing only a target port: the port comes from 30000-32767, `service inspect`
 *   shows it in Endpoint.Ports (not in Spec.EndpointSpec) with VIPs on the service's
 *   network and on ingress, `service ls` shows `*:PORT->80/tcp`, every host answers on it
 *   over both replicas; a second service asking for the same port is refused with its
 *   code, is not created, and no host's or sandbox's ruleset changes.
 */
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startManager } from '../../support/cli-e2e.ts';
import { SHOAL_BIN } from '../../support/manager-harness.ts';
import { type Cluster, exec, inNs, startCluster } from '../../support/dataplane.ts';
import { requireKernel } from '../../support/kernel.ts';
import { SERVER } from '../../support/load.ts';
import { waitUntil } from '../../support/wait.ts';

const VXLAN_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
const OUTSIDE = '192.0.2.1';

function hostAddr(i: number): string {
  return `192.0.2.${10 + i}`;
}

/** An IPv4 address as a number. */
function ip4(a: string): number {
  return a.split('.').reduce((n, x) => n * 256 + Number(x), 0);
}

function inCidr(addr: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = ip4(base!);
  return ip4(addr) >= start && ip4(addr) < start + size;
}

/** A task's addresses on a network, bare (IPv4 and IPv6). */
function addressesOn(x: { networks: Array<{ networkId: string; addresses: string[] }> }, networkId: string): string[] {
  const n = x.networks.find((m) => m.networkId === networkId);
  return (n?.addresses ?? []).map((a) => a.split('/')[0]!);
}

/** `count` GETs from a namespace, each on a new connection (the server closes it after each answer, so each is balanced anew); the bodies' first lines. */
async function get(ns: string, url: string, count: number): Promise<string[]> {
  const r = await inNs(
    ns,
    ['curl', '-s', '--max-time', '5', '-H', 'Connection: close', ...Array.from({ length: count }, () => url)],
    120_000,
  );
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Every ruleset of the cluster's host and sandbox namespaces, by namespace. */
async function rulesets(c: Cluster): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const names = readdirSync('/run/netns').filter((n) => n.startsWith(c.prefix) && (/-sb-/.test(n) || /h\d$/.test(n)));
  for (const n of names.sort()) out.set(n, (await inNs(n, ['nft', 'list', 'ruleset'])).stdout);
  return out;
}

if (requireKernel(t)) {
  t.test('cluster bootstrap, default networks, overlays and published ports through the CLI', async (t) => {
    const c = await startCluster(t, 2);
    const sh = c.sh;

    await t.test(
      'scenario 1: node ls shows every node Ready and Active with one Leader; wrong and foreign tokens are refused',
      async (t) => {
        const rows = await waitUntil(
          async () => {
            const out = (await sh(['node', 'ls'])).trimEnd().split('\n');
            const nodes = out.slice(1);
            return nodes.length === 2 && nodes.every((l) => /\sReady\s+Active\b/.test(l)) ? out : undefined;
          },
          60_000,
          'node ls to list two Ready, Active nodes',
          { retryErrors: true },
        );
        t.match(rows[0], /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION$/, 'Docker columns');
        const nodes = rows.slice(1);
        t.same(nodes.map((l) => /\s(h\d)\s/.exec(l)?.[1]).sort(), ['h1', 'h2'], 'both testbed hosts, by host name');
        t.equal(nodes.filter((l) => /\sLeader\s/.test(l)).length, 1, 'exactly one Leader');
        t.match(
          nodes.find((l) => /\sh1\s/.test(l)),
          /\sReady\s+Active\s+Leader\s/,
          'the manager host is the leader',
        );

        const worker = (await sh(['swarm', 'join-token', '-q', 'worker'])).trim();
        const manager = (await sh(['swarm', 'join-token', '-q', 'manager'])).trim();
        t.match(worker, /^SWMTKN-1-[0-9a-z]+-[0-9a-z]+$/, 'a worker token');
        t.match(manager, /^SWMTKN-1-[0-9a-z]+-[0-9a-z]+$/, 'a manager token');
        t.not(worker, manager, 'worker and manager tokens differ');
        t.equal(worker.split('-')[2], manager.split('-')[2], 'both name the same CA digest');

        const foreign = await startManager(t);
        const foreignToken = (await foreign.client.joinToken('worker')).token;
        const digest = worker.split('-')[2]!;
        const dir = mkdtempSync(join(tmpdir(), 'shoal-scenario-join-'));
        t.teardown(() => rmSync(dir, { recursive: true, force: true }));
        const managerAddr = `${hostAddr(1)}:2377`;
        const cases: Array<[string, string, RegExp]> = [
          ['a wrong secret', `SWMTKN-1-${digest}-${'z'.repeat(25)}`, /SHOAL_ERR_JOIN_TOKEN_REJECTED/],
          ['a malformed token', 'SWMTKN-1-nonsense', /SHOAL_ERR_BAD_JOIN_TOKEN/],
          ["another cluster's token", foreignToken, /SHOAL_ERR_CA_MISMATCH/],
        ];
        for (const [what, token, code] of cases) {
          // from the outside client's namespace, with a prefix of this testbed's: had it joined,
          // testbed down would remove whatever it made
          const r = await inNs(
            c.underlayNs,
            [
              process.execPath,
              SHOAL_BIN,
              'agent',
              '--join-token',
              token,
              '--manager',
              managerAddr,
              '--advertise-addr',
              OUTSIDE,
              '--data-dir',
              join(dir, what.replace(/\W/g, '-')),
              '--prefix',
              `${c.prefix}x-`,
            ],
            60_000,
          );
          t.equal(r.code, 1, `${what}: shoal agent exits 1`);
          t.match(r.stderr, code, `${what}: the error names its code`);
          t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line (${r.stderr.trim()})`);
        }
        t.equal((await c.client.listNodes()).length, 2, 'no node was added');
      },
    );

    const front = (await sh(['network', 'create', '-d', 'overlay', 'front'])).trim();
    t.match(front, /^[0-9a-z]{25}$/, 'network create prints the ID');

    await t.test('scenario 3: an overlay with every flag, the default pool, overlaps, ls, inspect and rm', async (t) => {
      await sh([
        'network',
        'create',
        '-d',
        'overlay',
        '--subnet',
        '10.77.0.0/24',
        '--gateway',
        '10.77.0.254',
        '--ip-range',
        '10.77.0.128/25',
        '--aux-address',
        'router=10.77.0.129',
        '--attachable',
        '--label',
        'tier=flags',
        '--opt',
        'com.example.note=1',
        'flags',
      ]);
      await sh(['network', 'create', '-d', 'overlay', '--internal', 'priv']);
      await sh(['network', 'create', '-d', 'overlay', '--ipv6', 'six']);
      const netFront = await c.client.inspectNetwork('front');
      const netPriv = await c.client.inspectNetwork('priv');
      const netSix = await c.client.inspectNetwork('six');
      t.equal(netFront.ipam[0]?.subnet, '10.0.0.0/24', 'front (no --subnet): the first /24 of the default pool');
      t.equal(netPriv.ipam[0]?.subnet, '10.0.1.0/24', 'priv: the next free /24');
      await sh(['network', 'create', '-d', 'overlay', '--subnet', '10.0.3.0/24', 'taken']);
      t.equal(netSix.ipam.find((s) => !s.subnet.includes(':'))?.subnet, '10.0.2.0/24', 'six: the next one');
      t.ok(
        netSix.ipam.some((s) => /^fd73:686f:616c:[0-9a-f:]*\/64$/.test(s.subnet)),
        `--ipv6: a /64 of the ULA pool too (${netSix.ipam.map((s) => s.subnet).join(' ')})`,
      );
      await sh(['network', 'create', '-d', 'overlay', 'after']);
      t.equal((await c.client.inspectNetwork('after')).ipam[0]?.subnet, '10.0.4.0/24', 'after: 10.0.3.0/24 is taken, so 10.0.4.0/24');

      const namesBefore = (await sh(['network', 'ls', '--format', '{{.Name}}'])).trim().split('\n');
      for (const overlap of ['10.77.0.0/16', '10.0.4.128/25']) {
        const r = await c.shoal(['network', 'create', '-d', 'overlay', '--subnet', overlap, 'overlapping']);
        t.equal(r.code, 1, `--subnet ${overlap}: refused`);
        t.match(r.stderr, /SHOAL_ERR_IPAM_OVERLAP/, `--subnet ${overlap}: with its code (${r.stderr.trim()})`);
      }
      t.same((await sh(['network', 'ls', '--format', '{{.Name}}'])).trim().split('\n'), namesBefore, 'nothing was created');
      t.same(namesBefore, ['after', 'flags', 'front', 'ingress', 'priv', 'six', 'taken'], 'ls lists every network by name');

      // tasks on both hosts on each network
      await sh(['service', 'create', '--name', 'onflags', '--replicas', '2', '--network', 'flags', '--', 'sleep', 'infinity']);
      await sh(['service', 'create', '--name', 'onpriv', '--network', 'priv', '--', 'sleep', 'infinity']);
      await sh(['service', 'create', '--name', 'onsix', '--replicas', '2', '--network', 'six', '--', 'sleep', 'infinity']);
      const onflags = await c.waitRunning('onflags', 2);
      const [onpriv] = await c.waitRunning('onpriv', 1);
      const onsix = await c.waitRunning('onsix', 2);
      t.same(onflags.map((x) => x.host).sort(), [1, 2], 'onflags runs on both hosts');
      const netFlags = await c.client.inspectNetwork('flags');
      const flagsAddrs = onflags.map((x) => addressesOn(x, netFlags.id)[0]!);
      for (const a of flagsAddrs) {
        t.ok(inCidr(a, '10.77.0.128/25'), `task address ${a} is inside --ip-range`);
        t.not(a, '10.77.0.129', 'and is not the --aux-address');
        t.not(a, '10.77.0.254', 'nor the gateway');
      }
      const br = await inNs(c.overlayNs(netFlags.id, onflags[0]!.host), ['ip', '-j', 'addr', 'show', 'br0']);
      t.match(br.stdout, /"local":"10\.77\.0\.254","prefixlen":24/, 'the --gateway is on the overlay bridge');
      const [a, b] = onflags;
      const ping = await inNs(c.sandboxNs(a!.id, a!.nodeId), ['ping', '-c', '2', '-i', '0.2', '-W', '2', flagsAddrs[1]!]);
      t.equal(ping.code, 0, `a task on h${a!.host} pings the one on h${b!.host} over flags ${ping.stdout.split('\n').at(-2)}`);
      const gw = await inNs(c.sandboxNs(a!.id, a!.nodeId), ['ping', '-c', '1', '-W', '2', '10.77.0.254']);
      t.equal(gw.code, 0, 'and its gateway');
      const out = await inNs(c.sandboxNs(a!.id, a!.nodeId), ['ping', '-c', '1', '-W', '2', OUTSIDE]);
      t.equal(out.code, 0, `a task on a normal network reaches the outside client ${out.stderr}`);
      const shut = await inNs(c.sandboxNs(onpriv!.id, onpriv!.nodeId), ['ping', '-c', '1', '-W', '2', OUTSIDE]);
      t.not(shut.code, 0, 'a task on the --internal network does not');
      const v6 = onsix.map((x) => addressesOn(x, netSix.id).find((s) => s.includes(':')));
      t.ok(
        v6.every((s) => s !== undefined),
        `the manager gives every onsix task an IPv6 address (${v6.join(' ')})`,
      );
      const [doc] = JSON.parse(await sh(['network', 'inspect', 'flags'])) as Array<Record<string, unknown>>;
      const dockerKeys = [
        'Name',
        'Id',
        'Created',
        'Scope',
        'Driver',
        'EnableIPv6',
        'IPAM',
        'Internal',
        'Attachable',
        'Ingress',
        'Containers',
        'Options',
        'Labels',
        'Peers',
      ];
      t.same(
        Object.keys(doc!).filter((k) => dockerKeys.includes(k)),
        dockerKeys,
        "Docker's keys in Docker's order",
      );
      t.equal(doc!['Name'], 'flags');
      t.equal(doc!['Id'], netFlags.id);
      t.match(doc!['Created'], /^\d{4}-\d\d-\d\dT/, 'Created is a time');
      t.equal(doc!['Scope'], 'swarm');
      t.equal(doc!['Driver'], 'overlay');
      t.equal(doc!['EnableIPv6'], false);
      t.equal(doc!['Internal'], false);
      t.equal(doc!['Attachable'], true);
      t.equal(doc!['Ingress'], false);
      t.same(doc!['IPAM'], {
        Driver: 'default',
        Options: null,
        Config: [
          { Subnet: '10.77.0.0/24', IPRange: '10.77.0.128/25', Gateway: '10.77.0.254', AuxiliaryAddresses: { router: '10.77.0.129' } },
        ],
      });
      const options = doc!['Options'] as Record<string, string>;
      t.equal(options[VXLAN_OPTION], String(netFlags.vxlanId), 'Options has the VXLAN ID list');
      t.ok(netFlags.vxlanId > 4096, `a user network's VXLAN ID is above ingress's 4096 (${netFlags.vxlanId})`);
      t.equal(options['com.example.note'], '1', '--opt');
      t.same(doc!['Labels'], { tier: 'flags' }, '--label');
      const containers = doc!['Containers'] as Record<string, { IPv4Address: string }>;
      t.same(
        Object.values(containers)
          .map((x) => x.IPv4Address.split('/')[0])
          .sort(),
        [...flagsAddrs].sort(),
        "Containers lists both tasks' endpoints",
      );
      const peers = await waitUntil(
        async () => {
          const [d] = JSON.parse(await sh(['network', 'inspect', 'flags'])) as Array<{ Peers?: Array<{ Name: string; IP: string }> }>;
          const p = (d?.Peers ?? []).map((x) => x.IP).sort();
          return p.length === 2 ? p : undefined;
        },
        30_000,
        'both hosts to be Peers of flags',
      );
      t.same(peers, [hostAddr(1), hostAddr(2)], 'Peers: both hosts, by underlay address');
      const [six] = JSON.parse(await sh(['network', 'inspect', 'six'])) as Array<Record<string, unknown>>;
      t.equal(six!['EnableIPv6'], true, '--ipv6: EnableIPv6');
      const [priv] = JSON.parse(await sh(['network', 'inspect', 'priv'])) as Array<Record<string, unknown>>;
      t.equal(priv!['Internal'], true, '--internal: Internal');

      const rm = await c.shoal(['network', 'rm', 'flags', 'after', 'taken']);
      t.equal(rm.code, 1, 'rm exits 1 when a name failed');
      t.equal(rm.stdout, 'after\ntaken\n', 'the networks not in use are removed');
      t.match(rm.stderr.trim(), /^Error: network flags .*\(SHOAL_ERR_NETWORK_IN_USE\)$/, 'one line for the one in use, with its code');
      t.same(
        (await sh(['network', 'ls', '--format', '{{.Name}}'])).trim().split('\n'),
        ['flags', 'front', 'ingress', 'priv', 'six'],
        'flags stays',
      );
      const still = await inNs(c.sandboxNs(a!.id, a!.nodeId), ['ping', '-c', '1', '-W', '2', flagsAddrs[1]!]);
      t.equal(still.code, 0, 'and its tasks still reach each other');
      for (const s of ['onflags', 'onpriv', 'onsix']) await sh(['service', 'rm', s]);
    });

    await t.test(
      'scenario 5: only a target port: a port from 30000-32767, shown apart from the spec; a taken port is refused',
      async (t) => {
        await sh(['service', 'create', '--name', 'auto', '--replicas', '2', '--network', 'front', '-p', '80', '--', ...SERVER]);
        const tasks = await c.waitRunning('auto', 2);
        const names = new Set(tasks.map((x) => x.id.slice(0, 12)));
        const [svc] = JSON.parse(await sh(['service', 'inspect', 'auto'])) as Array<{
          Spec: { EndpointSpec: { Ports?: Array<Record<string, unknown>> } };
          Endpoint: {
            Spec: { Ports?: Array<Record<string, unknown>> };
            Ports?: Array<Record<string, unknown>>;
            VirtualIPs?: Array<{ NetworkID: string; Addr: string }>;
          };
        }>;
        const port = Number(svc!.Endpoint.Ports?.[0]?.['PublishedPort']);
        t.ok(port >= 30000 && port <= 32767, `Endpoint.Ports: published port ${port} is in 30000-32767`);
        t.same(svc!.Endpoint.Ports, [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: port, PublishMode: 'ingress' }], 'Endpoint.Ports');
        t.equal(svc!.Spec.EndpointSpec.Ports?.length, 1, 'Spec.EndpointSpec has the one port asked for');
        t.notOk(svc!.Spec.EndpointSpec.Ports?.[0]?.['PublishedPort'], 'without the allocated port (the spec is what the user wrote)');
        t.equal(svc!.Spec.EndpointSpec.Ports?.[0]?.['TargetPort'], 80);
        const ingress = await c.client.inspectNetwork('ingress');
        const frontNet = await c.client.inspectNetwork('front');
        const vips = svc!.Endpoint.VirtualIPs ?? [];
        t.same(vips.map((v) => v.NetworkID).sort(), [frontNet.id, ingress.id].sort(), 'VirtualIPs: one on front, one on ingress');
        t.ok(
          vips.some((v) => v.NetworkID === ingress.id && /^10\.255\.\d+\.\d+\/16$/.test(v.Addr)),
          'the ingress VIP is in 10.255.0.0/16',
        );
        const ls = await sh(['service', 'ls', '--filter', 'name=auto', '--format', '{{.Name}} {{.Ports}}']);
        t.equal(ls, `auto *:${port}->80/tcp\n`, 'service ls shows the allocated port');

        const seen = new Set<string>();
        for (let h = 1; h <= 2; h++) {
          await waitUntil(
            async () => {
              const lines = await get(c.underlayNs, `http://${hostAddr(h)}:${port}/`, 10);
              for (const l of lines) if (names.has(l)) seen.add(l);
              return lines.length === 10 && lines.every((l) => names.has(l));
            },
            30_000,
            `h${h} to answer on ${port}`,
          );
          t.pass(`h${h} answers on ${port}`);
        }
        await waitUntil(
          async () => {
            for (const l of await get(c.underlayNs, `http://${hostAddr(1)}:${port}/`, 10)) if (names.has(l)) seen.add(l);
            return seen.size === 2;
          },
          30_000,
          'both replicas to answer',
        );
        t.equal(seen.size, 2, 'both replicas answered');

        const before = await rulesets(c);
        const servicesBefore = await sh(['service', 'ls', '--format', '{{.Name}}']);
        for (const args of [
          ['--publish', `published=${port},target=80`],
          ['-p', `${port}:8080`],
        ]) {
          const r = await c.shoal(['service', 'create', '--name', 'clash', '--network', 'front', ...args, '--', ...SERVER]);
          t.equal(r.code, 1, `${args.join(' ')}: refused`);
          t.match(r.stderr, /SHOAL_ERR_PORT_IN_USE/, `with its code (${r.stderr.trim()})`);
          t.match(r.stderr, new RegExp(String(port)), 'naming the port');
        }
        t.equal(await sh(['service', 'ls', '--format', '{{.Name}}']), servicesBefore, 'no service was created');
        t.same((await c.client.listTasks({ services: ['clash'] }).catch(() => [])).length, 0, 'and no task');
        const after = await rulesets(c);
        t.same([...after.keys()], [...before.keys()], 'no namespace came or went');
        for (const [ns, text] of before) t.equal(after.get(ns), text, `${ns}: the ruleset is unchanged`);
        const still = await get(c.underlayNs, `http://${hostAddr(2)}:${port}/`, 3);
        t.ok(still.length === 3 && still.every((l) => names.has(l)), 'the port still reaches auto');
      },
    );

    await t.test('scenario 2: the ingress overlay and the gateway bridge on every node; ingress cannot be removed', async (t) => {
      const [doc] = JSON.parse(await sh(['network', 'inspect', 'ingress'])) as Array<Record<string, unknown>>;
      t.equal(doc!['Name'], 'ingress');
      t.equal(doc!['Scope'], 'swarm', 'swarm scope');
      t.equal(doc!['Driver'], 'overlay', 'an overlay');
      t.equal(doc!['Ingress'], true, 'Ingress true');
      t.same(
        (doc!['IPAM'] as { Config: unknown }).Config,
        [{ Subnet: '10.255.0.0/16', Gateway: '10.255.0.1' }],
        '10.255.0.0/16, gateway .1',
      );
      t.equal((doc!['Options'] as Record<string, string>)[VXLAN_OPTION], '4096', 'VXLAN ID 4096');
      const ingress = await c.client.inspectNetwork('ingress');
      const [auto] = await c.running('auto');
      const taskNs = c.sandboxNs(auto!.id, auto!.nodeId);
      for (let h = 1; h <= 2; h++) {
        const ovNs = c.overlayNs(ingress.id, h);
        const links = await waitUntil(
          async () => {
            const r = await inNs(ovNs, ['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan']);
            return r.code === 0 && r.stdout.includes('"id":4096') ? r.stdout : undefined;
          },
          30_000,
          `h${h}'s ingress overlay to hold its VXLAN device`,
        );
        t.match(links, /"id":4096/, `h${h}: the ingress VXLAN device has VNI 4096`);
        const gwLinks = await inNs(c.hostNs(h), ['ip', '-j', '-d', 'addr', 'show', 'type', 'bridge']);
        const bridges = JSON.parse(gwLinks.stdout || '[]') as Array<{
          ifname: string;
          addr_info: Array<{ local: string; prefixlen: number }>;
        }>;
        const gw = bridges.find((x) => x.addr_info.some((a) => a.local === '172.18.0.1' && a.prefixlen === 16));
        t.ok(gw, `h${h}: a gateway bridge with 172.18.0.1/16 (${gw?.ifname})`);
        t.ok(gw?.ifname.startsWith(c.agentPrefix(h).slice(0, 4)), `h${h}: named with the agent's prefix`);
      }
      const egress = await inNs(taskNs, ['ip', '-j', 'route', 'show', 'default']);
      t.match(egress.stdout, /"gateway":"172\.18\.0\.1"/, "a task's default route is the gateway bridge");
      const ping = await inNs(taskNs, ['ping', '-c', '1', '-W', '2', OUTSIDE]);
      t.equal(ping.code, 0, 'and it reaches the outside client through it');

      const rm = await c.shoal(['network', 'rm', 'ingress']);
      t.equal(rm.code, 1, 'network rm ingress is refused');
      t.match(rm.stderr.trim(), /^Error: .*ingress.*\(SHOAL_ERR_INGRESS_PROTECTED\)$/, `one line with its code (${rm.stderr.trim()})`);
      t.ok((await sh(['network', 'ls', '--format', '{{.Name}}'])).split('\n').includes('ingress'), 'ingress stays');
      const list = await exec('ip', ['netns', 'list']);
      t.ok(list.stdout.includes(c.overlayNs(ingress.id, 1)), "and so does h1's ingress overlay namespace");
    });
  });
}
