/**
 * Acceptance of the embedded resolver in a 2-host testbed, with real clients inside task
 * sandboxes (`shoal exec`, so they see the sandbox's own resolv.conf):
 *
 * - resolv.conf names 127.0.0.11 only (`--dns` servers become the resolver's upstreams);
 * - `dig web` answers the VIP, `tasks.web` the task addresses on both hosts, `getent hosts
 *   web` (glibc through resolv.conf) the VIP, `dig -x VIP` the service's name, a task's
 *   name its address;
 * - with 40 replicas `tasks.web` does not fit 512 bytes: truncated (TC) over plain UDP,
 *   complete over TCP;
 * - a scale-down leaves `tasks.web` on every host;
 * - `example.org` is forwarded to the service's `--dns` upstream on the outside client
 *   192.0.2.1 (dnsmasq), over UDP and TCP; once it is down, SERVFAIL within 5 s;
 * - nothing is forwarded from an internal network (REFUSED at once), and a name of another
 *   network does not resolve.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { requireKernel } from '../../support/kernel.ts';
import { type Cluster, startCluster } from '../../support/dataplane.ts';
import { waitUntil } from '../../support/wait.ts';

const UPSTREAM = '192.0.2.1';

/** dig run inside a task's sandbox; its whole output. */
async function dig(c: Cluster, task: string, args: readonly string[]): Promise<string> {
  const r = await c.shoal(['exec', task, 'dig', '+time=3', '+tries=1', ...args], 60_000);
  if (r.code !== 0 && r.code !== 9) throw new Error(`dig ${args.join(' ')} in ${task} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The addresses of a `dig +short` answer, sorted. */
async function short(c: Cluster, task: string, args: readonly string[]): Promise<string[]> {
  const out = await dig(c, task, ['+short', ...args]);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith(';'))
    .sort();
}

function status(out: string): string {
  return /status: (\w+)/.exec(out)?.[1] ?? '(none)';
}

function bare(addr: string): string {
  return addr.split('/')[0]!;
}

if (requireKernel(t)) {
  t.test('the embedded resolver in task sandboxes, real clients', async (t) => {
    const c = await startCluster(t, 2);
    const sh = c.sh;
    await sh(['network', 'create', '-d', 'overlay', '--attachable', 'front']);
    await sh(['network', 'create', '-d', 'overlay', 'side']);
    await sh(['network', 'create', '-d', 'overlay', '--internal', 'back']);
    const front = await c.client.inspectNetwork('front');
    await sh(['service', 'create', '--name', 'web', '--replicas', '3', '--network', 'front', '--', 'sleep', 'infinity']);
    await sh(['service', 'create', '--name', 'other', '--network', 'side', '--', 'sleep', 'infinity']);
    await sh([
      'service',
      'create',
      '--name',
      'client',
      '--mode',
      'global',
      '--network',
      'front',
      '--dns',
      UPSTREAM,
      '--dns-search',
      'example.org',
      '--',
      'sleep',
      'infinity',
    ]);
    await sh(['service', 'create', '--name', 'inside', '--network', 'back', '--', 'sleep', 'infinity']);
    const web = await c.waitRunning('web', 3);
    const clients = await c.waitRunning('client', 2);
    await c.waitRunning('other', 1);
    await c.waitRunning('inside', 1);
    t.same(clients.map((x) => x.host).sort(), [1, 2], 'a client on each host');
    const svc = await c.client.inspectService('web');
    const vip = bare(svc.endpoint.virtualIps.find((v) => v.networkId === front.id)!.addr);

    await t.test('scenario 4: resolv.conf, service names, tasks., glibc, PTR and task names', async (t) => {
      const conf = await c.shoal(['exec', clients[0]!.id, 'cat', '/etc/resolv.conf']);
      t.equal(conf.stdout, 'nameserver 127.0.0.11\nsearch example.org\noptions ndots:0\n', 'the resolver only; --dns is its upstream');
      const want = web.map((x) => x.ip).sort();
      for (const cl of clients) {
        const where = `from h${cl.host}`;
        t.same(await short(c, cl.id, ['web']), [vip], `${where}: web is its VIP`);
        const answer = await dig(c, cl.id, ['+noall', '+answer', 'web']);
        t.match(answer, new RegExp(`^web\\.\\s+5\\s+IN\\s+A\\s+${vip.replaceAll('.', '\\.')}$`, 'm'), `${where}: with the 5 s TTL`);
        t.same(
          await waitUntil(
            async () => {
              const got = await short(c, cl.id, ['tasks.web']);
              return got.join() === want.join() ? got : undefined;
            },
            20_000,
            `tasks.web ${where}`,
          ),
          want,
          `${where}: tasks.web is the three tasks on both hosts`,
        );
        const getent = await c.shoal(['exec', cl.id, 'getent', 'hosts', 'web']);
        t.match(getent.stdout, new RegExp(`^${vip.replaceAll('.', '\\.')}\\s+web$`, 'm'), `${where}: getent hosts web (glibc)`);
        t.same(await short(c, cl.id, ['-x', vip]), ['web.'], `${where}: dig -x VIP names the service`);
        const first = web[0]!;
        t.same(await short(c, cl.id, [first.name ?? '']), [first.ip], `${where}: a task's name is its address`);
        t.same(await short(c, cl.id, ['web.front']), [vip], `${where}: web.front resolves on front`);
      }
    });

    await t.test('scenario 12: a standalone container: its name and hostname resolve, and it resolves services', async (t) => {
      await sh([
        'container',
        'run',
        '--name',
        'box',
        '--hostname',
        'boxhost',
        '--network',
        'front',
        '--dns-option',
        'timeout:2',
        '--',
        'sleep',
        'infinity',
      ]);
      const box = await waitUntil(
        async () => {
          const b = await c.client.inspectContainer('box');
          return b.state === 'running' ? b : undefined;
        },
        60_000,
        'box to run',
        { retryErrors: true },
      );
      const addr = bare(box.networks[0]!.addresses[0]!);
      const conf = await c.shoal(['exec', 'box', 'cat', '/etc/resolv.conf']);
      t.equal(conf.stdout, 'nameserver 127.0.0.11\noptions ndots:0 timeout:2\n', "the container's resolv.conf");
      for (const cl of clients) {
        const got = await waitUntil(
          async () => {
            const a = await short(c, cl.id, ['box']);
            return a.length > 0 ? a : undefined;
          },
          20_000,
          `box to resolve on h${cl.host}`,
        );
        t.same(got, [addr], `h${cl.host}: the container's name`);
        t.same(await short(c, cl.id, ['boxhost']), [addr], `h${cl.host}: its hostname`);
      }
      t.same(await short(c, 'box', ['web']), [vip], 'the container resolves web');
    });

    await t.test('40 replicas: truncated over UDP, complete over TCP; a scale-down follows', async (t) => {
      await sh(['service', 'scale', 'web=40']);
      const tasks = await c.waitRunning('web', 40, 180_000);
      const want = tasks.map((x) => x.ip).sort();
      const cl = clients[0]!;
      await waitUntil(
        async () => (await short(c, cl.id, ['+tcp', 'tasks.web'])).join() === want.join(),
        30_000,
        'tasks.web to hold 40 addresses',
      );
      const udp = await dig(c, cl.id, ['+noedns', '+ignore', 'tasks.web']);
      t.match(udp, /flags: [^;]*\btc\b/, 'plain UDP: TC set (over 512 bytes)');
      const tcp = await short(c, cl.id, ['+tcp', 'tasks.web']);
      t.equal(tcp.length, 40, 'TCP: all 40 addresses');
      t.same(tcp, want);

      await sh(['service', 'scale', 'web=2']);
      const two = (await c.waitRunning('web', 2, 120_000)).map((x) => x.ip).sort();
      for (const x of clients) {
        await waitUntil(
          async () => (await short(c, x.id, ['tasks.web'])).join() === two.join(),
          20_000,
          `tasks.web on h${x.host} to drop the removed tasks`,
        );
      }
      t.pass('removed tasks left tasks.web on both hosts');
    });

    await t.test('scenario 11: forwarding to the --dns upstream, then SERVFAIL once it is down', async (t) => {
      const dnsmasq = spawn(
        'nsenter',
        [
          `--net=/run/netns/${c.underlayNs}`,
          '--',
          'dnsmasq',
          '--keep-in-foreground',
          `--listen-address=${UPSTREAM}`,
          '--bind-interfaces',
          '--no-resolv',
          '--no-hosts',
          '--pid-file=',
          '--address=/example.org/192.0.2.99',
        ],
        { stdio: 'ignore' },
      );
      const stopped = new Promise<void>((resolve) => dnsmasq.once('exit', () => resolve()));
      t.teardown(async () => {
        if (dnsmasq.exitCode === null && dnsmasq.signalCode === null) dnsmasq.kill('SIGTERM');
        await stopped;
      });
      for (const cl of clients) {
        const got = await waitUntil(
          async () => {
            const a = await short(c, cl.id, ['example.org']);
            return a.length > 0 ? a : undefined;
          },
          15_000,
          'the upstream to answer',
        );
        t.same(got, ['192.0.2.99'], `h${cl.host}: example.org answered by the upstream (UDP)`);
        const tcp = await dig(c, cl.id, ['+tcp', 'example.org']);
        t.match(tcp, /^example\.org\.\s+\d+\s+IN\s+A\s+192\.0\.2\.99$/m, `h${cl.host}: and over TCP`);
      }
      dnsmasq.kill('SIGTERM');
      await stopped;
      const started = Date.now();
      const out = await dig(c, clients[0]!.id, ['+time=8', 'example.org']);
      const ms = Date.now() - started;
      t.equal(status(out), 'SERVFAIL', 'upstream down: SERVFAIL');
      t.ok(ms < 5000, `within 5 s (${ms} ms, shoal exec included)`);
    });

    await t.test('scenario 4, scenario 11: internal networks forward nothing; other networks do not resolve', async (t) => {
      const [inside] = await c.running('inside');
      const started = Date.now();
      const out = await dig(c, inside!.id, ['example.org']);
      t.equal(status(out), 'REFUSED', 'internal network: not forwarded');
      t.ok(Date.now() - started < 3000, 'answered at once');
      t.same(await short(c, inside!.id, ['web']), [], 'web is not on back');
      t.same(await short(c, clients[0]!.id, ['other']), [], 'other (on side) does not resolve from front');
      t.equal(status(await dig(c, clients[0]!.id, ['tasks.other'])), 'NXDOMAIN', 'tasks.other: NXDOMAIN, not forwarded');
    });
  });
}
