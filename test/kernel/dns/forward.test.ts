/**
 * Forwarding on the real kernel: a sandbox namespace and an "upstream" namespace joined by
 * a veth pair. The resolver in the sandbox answers what it does not own by asking the
 * upstream from inside the sandbox (its own route), over UDP and TCP; once the upstream is
 * gone, the client gets SERVFAIL within 5 s rather than silence.
 */
import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { createRng } from '../../../src/common/rng.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { systemClock } from '../../../src/common/clock.ts';
import { createChain } from '../../../src/dns/handler.ts';
import { forwardHandler } from '../../../src/dns/handlers/forward.ts';
import { checkQuery } from '../../../src/dns/handlers/query-check.ts';
import { recordsHandler } from '../../../src/dns/handlers/records.ts';
import { CLASS_IN, emptyResponse, RR_TYPE } from '../../../src/dns/message.ts';
import { buildRecordIndex } from '../../../src/dns/records.ts';
import { DnsServer } from '../../../src/dns/server.ts';
import { TransportUpstream } from '../../../src/dns/upstream.ts';
import { NetnsDnsTransport } from '../../../src/dns/upstream-transport.ts';
import { decodeQuery, encodeResponse, frameTcp, TcpFrameReader } from '../../../src/dns/wire.ts';
import { execInNetns } from '../../../src/kernel/exec.ts';
import { native } from '../../../src/kernel/native.ts';
import { netnsPath } from '../../../src/kernel/netns.ts';
import { createNft } from '../../../src/kernel/nft.ts';
import { planResolverRedirect } from '../../../src/vip/mesh-plan.ts';
import { WholeTables } from '../../../src/vip/mesh.ts';
import { throwawayNetns } from '../../support/kernel.ts';

/** The upstream's answer to any A query: 192.0.2.99. */
function answer(msg: Uint8Array, limit: number): Uint8Array {
  const q = decodeQuery(msg);
  const r = emptyResponse(q);
  r.answers.push({ name: q.question.name, type: RR_TYPE.A, class: CLASS_IN, ttl: 300, data: { kind: 'a', address: '192.0.2.99' } });
  return encodeResponse(r, limit);
}

t.test('names the resolver does not own are forwarded from inside the sandbox', async (t) => {
  const sb = throwawayNetns(t, 'dnsf');
  const up = throwawayNetns(t, 'dnsu');
  if (!sb || !up) return;
  for (const ns of [sb, up]) await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  await execInNetns(sb, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', up]);
  await execInNetns(sb, 'ip', ['addr', 'add', '198.18.0.2/24', 'dev', 'eth0']);
  await execInNetns(up, 'ip', ['addr', 'add', '198.18.0.1/24', 'dev', 'eth0']);
  await execInNetns(sb, 'ip', ['link', 'set', 'eth0', 'up']);
  await execInNetns(up, 'ip', ['link', 'set', 'eth0', 'up']);

  // the upstream, in its namespace, on 198.18.0.1:53 (UDP and TCP)
  const n = native();
  const uUdp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) =>
    uUdp.bind({ fd: n.openSocket(netnsPath(up), n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, '198.18.0.1', 53) }, resolve),
  );
  uUdp.on('message', (m, r) => uUdp.send(answer(m, 512), r.port, r.address));
  const uTcp = net.createServer((c) => {
    const reader = new TcpFrameReader();
    c.on('data', (d: Buffer) => {
      reader.push(d);
      for (let m = reader.next(); m; m = reader.next()) c.write(frameTcp(answer(m, 65535)));
    });
  });
  await new Promise<void>((resolve) =>
    uTcp.listen({ fd: n.openSocket(netnsPath(up), n.constants.AF_INET, n.constants.SOCK_STREAM, 0, '198.18.0.1', 53) }, resolve),
  );
  let upstreamUp = true;
  const stopUpstream = (): void => {
    if (!upstreamUp) return;
    upstreamUp = false;
    uUdp.close();
    uTcp.close();
  };
  t.teardown(stopUpstream);

  const index = buildRecordIndex({ networks: [], services: [], tasks: [], containers: [] });
  const transport = new NetnsDnsTransport(netnsPath(sb));
  const upstream = new TransportUpstream(transport, { address: '198.18.0.1', port: 53 });
  const fwd = forwardHandler({ upstreams: () => [upstream], clock: systemClock });
  const resolver = createChain([checkQuery, recordsHandler({ index: () => index, rng: createRng(1) }), fwd.handler]);
  const server = new DnsServer({ resolver, logger: silentLogger });
  t.teardown(() => {
    server.close();
    transport.close();
  });
  const ports = await server.serve({ id: 'sb', nsPath: netnsPath(sb), networkIds: [] });
  const tables = new WholeTables((x) => createNft(x), silentLogger);
  t.same(
    await tables.sync(
      [{ netns: sb, name: 'dnsf-resolver', table: planResolverRedirect('dnsf-resolver', ports.udpPort, ports.tcpPort) }],
      true,
    ),
    [],
  );

  const dig = (args: string[]) => execInNetns(sb, 'dig', ['+time=6', '+tries=1', '@127.0.0.11', ...args], { okExitCodes: [0, 9] });
  const udp = await dig(['example.org', 'A']);
  t.match(udp.stdout, /^example\.org\.\s+300\s+IN\s+A\s+192\.0\.2\.99$/m, "the upstream's answer, relayed over UDP");
  t.match(udp.stdout, /status: NOERROR/);
  const tcp = await dig(['+tcp', 'example.org', 'A']);
  t.match(tcp.stdout, /192\.0\.2\.99/, 'and over TCP');
  t.same([fwd.stats.forwarded, fwd.stats.answered], [2, 2]);

  stopUpstream();
  const started = Date.now();
  const down = await dig(['example.org', 'A']);
  const ms = Date.now() - started;
  t.match(down.stdout, /status: SERVFAIL/, 'upstream gone: SERVFAIL');
  t.ok(ms < 5000, `within 5 s (${ms} ms)`);
});
