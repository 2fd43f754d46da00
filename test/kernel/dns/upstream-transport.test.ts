/**
 * DNS messages sent from inside a sandbox namespace (src/dns/upstream-transport.ts), on the
 * real kernel: an "upstream" listening on 127.0.0.1 inside the namespace is reached (from
 * the root namespace nothing listens there), UDP answers come back with the client's id
 * although the wire id was fresh, concurrent queries get their own answers, an answer from
 * another source is ignored, a silent upstream times out, and TCP carries a whole message.
 */
import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { native } from '../../../src/kernel/native.ts';
import { netnsPath } from '../../../src/kernel/netns.ts';
import { execInNetns } from '../../../src/kernel/exec.ts';
import { NetnsDnsTransport } from '../../../src/dns/upstream-transport.ts';
import { throwawayNetns } from '../../support/kernel.ts';

/** A 12-byte header with `id`, then a payload to recognise. */
function message(id: number, payload: string): Uint8Array {
  const b = Buffer.alloc(12 + payload.length);
  b.writeUInt16BE(id, 0);
  b.write(payload, 12);
  return Uint8Array.from(b);
}
const idOf = (m: Uint8Array): number => (m[0]! << 8) | m[1]!;
const payloadOf = (m: Uint8Array): string => Buffer.from(m.subarray(12)).toString();

t.test('UDP and TCP from inside the namespace, ids kept apart', async (t) => {
  const ns = throwawayNetns(t, 'dnsu');
  if (!ns) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  const n = native();
  // the "upstream": answers a UDP query with "answer:" + its payload, after a delay the payload names
  const udpFd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, '127.0.0.1', 0);
  const server = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => server.bind({ fd: udpFd }, resolve));
  const seenIds: number[] = [];
  server.on('message', (msg, rinfo) => {
    seenIds.push(msg.readUInt16BE(0));
    const payload = msg.subarray(12).toString();
    if (payload === 'silent') return;
    const delay = payload.startsWith('slow') ? 50 : 0;
    setTimeout(() => server.send(Buffer.concat([msg.subarray(0, 12), Buffer.from(`answer:${payload}`)]), rinfo.port, rinfo.address), delay);
  });
  const port = server.address().port;
  // TCP: length-prefixed, answered the same way
  const tcpFd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_STREAM, 0, '127.0.0.1', 0);
  const tcp = net.createServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      const answer = Buffer.concat([msg.subarray(0, 12), Buffer.from(`tcp:${msg.subarray(12).toString()}`)]);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(answer.length, 0);
      c.end(Buffer.concat([len, answer]));
    });
  });
  await new Promise<void>((resolve) => tcp.listen({ fd: tcpFd }, resolve));
  const tcpPort = (tcp.address() as net.AddressInfo).port;
  const client = new NetnsDnsTransport(netnsPath(ns));
  t.teardown(() => {
    client.close();
    server.close();
    tcp.close();
  });

  const one = await client.exchangeUdp({ address: '127.0.0.1', port }, message(0x1234, 'q1'), 2000);
  t.equal(idOf(one), 0x1234, "the answer carries the client's id");
  t.equal(payloadOf(one), 'answer:q1');
  t.not(seenIds[0], undefined);

  // concurrent: the slow one answers last, each still gets its own
  const [slow, fast] = await Promise.all([
    client.exchangeUdp({ address: '127.0.0.1', port }, message(7, 'slow-a'), 2000),
    client.exchangeUdp({ address: '127.0.0.1', port }, message(7, 'fast-b'), 2000),
  ]);
  t.equal(payloadOf(slow), 'answer:slow-a');
  t.equal(payloadOf(fast), 'answer:fast-b');
  t.equal(new Set(seenIds.slice(1, 3)).size, 2, 'two queries with the same client id went out with different ids');

  const started = Date.now();
  await t.rejects(client.exchangeUdp({ address: '127.0.0.1', port }, message(9, 'silent'), 300), { code: 'SHOAL_ERR_TIMEOUT' });
  t.ok(Date.now() - started >= 290, 'gave up after its deadline');
  t.equal(client.inFlight, 0, "the given-up query's id is freed");

  const viaTcp = await client.exchangeTcp({ address: '127.0.0.1', port: tcpPort }, message(0xbeef, 'big'.repeat(200)), 2000);
  t.equal(idOf(viaTcp), 0xbeef);
  t.equal(payloadOf(viaTcp), `tcp:${'big'.repeat(200)}`, 'a whole message over TCP');

  // nothing listens on that port in this process's own namespace: the sockets were the sandbox's
  const root = new NetnsDnsTransport(null);
  t.teardown(() => root.close());
  await t.rejects(
    root.exchangeTcp({ address: '127.0.0.1', port: tcpPort }, message(1, 'x'), 1000),
    'from the root namespace the port is closed',
  );
});
