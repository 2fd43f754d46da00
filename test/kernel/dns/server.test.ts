/**
 * The resolver's sockets (src/dns/server.ts) on the real kernel, with real clients inside a
 * sandbox namespace: the chain (query check, records from an index, then REFUSED for what
 * it does not own) behind 127.0.0.11:53 through the redirect. dig gets the VIP of `web`,
 * the 40 addresses of `tasks.web` over TCP while UDP is truncated with TC set, a PTR for the
 * VIP, NXDOMAIN under a name it owns; a malformed packet gets FORMERR and the resolver
 * still answers after it.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { createRng } from '../../../src/common/rng.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { createChain } from '../../../src/dns/handler.ts';
import { checkQuery } from '../../../src/dns/handlers/query-check.ts';
import { recordsHandler } from '../../../src/dns/handlers/records.ts';
import { buildRecordIndex, type RecordTask } from '../../../src/dns/records.ts';
import { DnsServer } from '../../../src/dns/server.ts';
import { execInNetns } from '../../../src/kernel/exec.ts';
import { native } from '../../../src/kernel/native.ts';
import { netnsPath } from '../../../src/kernel/netns.ts';
import { createNft } from '../../../src/kernel/nft.ts';
import { planResolverRedirect } from '../../../src/vip/mesh-plan.ts';
import { WholeTables } from '../../../src/vip/mesh.ts';
import { throwawayNetns } from '../../support/kernel.ts';

const tasks: RecordTask[] = Array.from({ length: 40 }, (_, i) => ({
  id: `task${String(i).padStart(3, '0')}`,
  serviceId: 'svc-web',
  slot: i + 1,
  nodeId: 'node1',
  networks: [{ networkId: 'net-front', addresses: [`10.0.1.${i + 10}/24`], aliases: [] }],
  state: 'running',
  health: '',
  draining: false,
}));

async function dig(ns: string, args: string[]): Promise<string> {
  const r = await execInNetns(ns, 'dig', ['+time=2', '+tries=1', ...args], { okExitCodes: [0, 9] });
  return r.stdout;
}

t.test('dig inside a sandbox gets answers from the resolver at 127.0.0.11', async (t) => {
  const ns = throwawayNetns(t, 'dnss');
  if (!ns) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  const index = buildRecordIndex({
    networks: [{ id: 'net-front', name: 'front', internal: false, ingress: false }],
    services: [
      {
        id: 'svc-web',
        name: 'web',
        endpointMode: 'vip',
        virtualIps: [{ networkId: 'net-front', addr: '10.0.1.2/24' }],
        networks: [{ target: 'net-front', aliases: [] }],
      },
    ],
    tasks,
    containers: [],
  });
  const resolver = createChain([checkQuery, recordsHandler({ index: () => index, rng: createRng(1) })]);
  const server = new DnsServer({ resolver, logger: silentLogger });
  t.teardown(() => server.close());
  const ports = await server.serve({ id: 'sb1', nsPath: netnsPath(ns), networkIds: ['net-front'] });
  const tables = new WholeTables((n) => createNft(n), silentLogger);
  t.same(
    await tables.sync(
      [{ netns: ns, name: 'dnss-resolver', table: planResolverRedirect('dnss-resolver', ports.udpPort, ports.tcpPort) }],
      true,
    ),
    [],
  );

  const a = await dig(ns, ['@127.0.0.11', 'web', 'A']);
  t.match(a, /status: NOERROR/);
  t.match(a, /^web\.\s+5\s+IN\s+A\s+10\.0\.1\.2$/m, "web is its VIP, with the resolver's 5 s TTL");
  t.match(a, /flags: qr aa rd ra/, 'authoritative, recursion available');

  const udp = await dig(ns, ['@127.0.0.11', '+ignore', '+noedns', 'tasks.web', 'A']);
  t.match(udp, /flags: qr aa tc/, 'tasks.web over plain UDP: truncated, TC set');
  const tcp = await dig(ns, ['@127.0.0.11', '+tcp', 'tasks.web', 'A']);
  const addrs = [...tcp.matchAll(/^tasks\.web\.\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]);
  t.equal(addrs.length, 40, 'over TCP: all 40 task addresses');
  t.equal(new Set(addrs).size, 40);

  const ptr = await dig(ns, ['@127.0.0.11', '-x', '10.0.1.2']);
  t.match(ptr, /PTR\s+web\.$/m, 'the VIP reverses to the service name');

  const nx = await dig(ns, ['@127.0.0.11', 'tasks.nosuch', 'A']);
  t.match(nx, /status: NXDOMAIN/, 'a name under tasks. it does not have: NXDOMAIN');
  const other = await dig(ns, ['@127.0.0.11', 'example.org', 'A']);
  t.match(other, /status: REFUSED/, 'a name it does not own, with nothing to forward to: REFUSED');

  // a malformed packet (a header and a question cut short) gets FORMERR with its id
  const n = native();
  const fd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, null, 0);
  const raw = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => raw.bind({ fd }, resolve));
  t.teardown(() => raw.close());
  const answer = new Promise<Buffer>((resolve) => raw.once('message', (m) => resolve(m)));
  raw.send(Buffer.from([0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 3, 0x77]), 53, '127.0.0.11');
  const formerr = await answer;
  t.equal(formerr.readUInt16BE(0), 0xabcd, 'the answer keeps the id');
  t.equal(formerr[3]! & 0x0f, 1, 'FORMERR');
  t.equal(server.stats.malformed, 1);
  t.match(await dig(ns, ['@127.0.0.11', 'web', 'A']), /status: NOERROR/, 'and the resolver still answers');
});

t.test('answers are reused while the records stay the same, and follow them when they change', async (t) => {
  const ns = throwawayNetns(t, 'dnsr');
  if (!ns) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  const input = (count: number) => ({
    networks: [{ id: 'net-front', name: 'front', internal: false, ingress: false }],
    services: [
      {
        id: 'svc-web',
        name: 'web',
        endpointMode: 'vip' as const,
        virtualIps: [{ networkId: 'net-front', addr: '10.0.1.2/24' }],
        networks: [{ target: 'net-front', aliases: [] }],
      },
    ],
    tasks: tasks.slice(0, count),
    containers: [],
  });
  let index = buildRecordIndex(input(20));
  const resolver = createChain([checkQuery, recordsHandler({ index: () => index, rng: createRng(1) })]);
  const server = new DnsServer({ resolver, logger: silentLogger, generation: () => index, rng: createRng(2) });
  t.teardown(() => server.close());
  const ports = await server.serve({ id: 'sb1', nsPath: netnsPath(ns), networkIds: ['net-front'] });
  const tables = new WholeTables((n) => createNft(n), silentLogger);
  t.same(
    await tables.sync(
      [{ netns: ns, name: 'dnsr-resolver', table: planResolverRedirect('dnsr-resolver', ports.udpPort, ports.tcpPort) }],
      true,
    ),
    [],
  );
  // +nocookie: dig's client cookie differs per run, which would make every query a new one
  const taskAddrs = async (): Promise<string[]> => {
    const out = await dig(ns, ['@127.0.0.11', '+nocookie', 'tasks.web', 'A']);
    return [...out.matchAll(/^tasks\.web\.\s+5\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]!);
  };
  const want20 = tasks.slice(0, 20).map((x) => x.networks[0]!.addresses[0]!.split('/')[0]!);
  const orders = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const got = await taskAddrs();
    t.same([...got].sort(), [...want20].sort(), `answer ${i + 1}: all 20 task addresses`);
    orders.add(got.join(','));
  }
  t.ok(server.stats.reused >= 5, `answers after the first came from the cache (${server.stats.reused})`);
  t.ok(orders.size > 1, `and were shuffled (${orders.size} orders in 6)`);
  t.match(await dig(ns, ['@127.0.0.11', '+nocookie', 'web', 'A']), /^web\.\s+5\s+IN\s+A\s+10\.0\.1\.2$/m);

  index = buildRecordIndex(input(3)); // tasks went away
  const got = await taskAddrs();
  t.same([...got].sort(), want20.slice(0, 3).sort(), 'a new index: the answer has the three tasks left');
});
