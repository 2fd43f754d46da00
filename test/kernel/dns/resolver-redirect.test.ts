/**
 * The sandbox's resolver redirect (src/vip/mesh-plan.ts planResolverRedirect) on the real
 * kernel: a query to 127.0.0.11:53 over UDP and over TCP reaches the sockets on the
 * resolver's own ports inside the namespace, the answer comes back from port 53, a server
 * of the task's own on another address's port 53 is untouched, and the table reads back as
 * planned (WholeTables: no drift).
 */
import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { native } from '../../../src/kernel/native.ts';
import { netnsPath } from '../../../src/kernel/netns.ts';
import { createNft } from '../../../src/kernel/nft.ts';
import { planResolverRedirect, RESOLVER_ADDRESS } from '../../../src/vip/mesh-plan.ts';
import { WholeTables } from '../../../src/vip/mesh.ts';
import { execInNetns } from '../../../src/kernel/exec.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { throwawayNetns } from '../../support/kernel.ts';

t.test('127.0.0.11:53 reaches the resolver ports inside the sandbox, over UDP and TCP', async (t) => {
  const ns = throwawayNetns(t, 'dnsr');
  if (!ns) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  const n = native();
  const udpFd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, RESOLVER_ADDRESS, 0);
  const tcpFd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_STREAM, 0, RESOLVER_ADDRESS, 0);
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind({ fd: udpFd }, resolve));
  const server = net.createServer((c) => c.end('tcp answer\n'));
  await new Promise<void>((resolve) => server.listen({ fd: tcpFd }, resolve));
  t.teardown(() => {
    udp.close();
    server.close();
  });
  udp.on('message', (msg, rinfo) => udp.send(Buffer.concat([Buffer.from('udp answer to '), msg]), rinfo.port, rinfo.address));
  const udpPort = udp.address().port;
  const tcpPort = (server.address() as net.AddressInfo).port;
  t.not(udpPort, 53);

  const tables = new WholeTables((netns) => createNft(netns), silentLogger);
  const name = 'dnsr-resolver';
  const want = [{ netns: ns, name, table: planResolverRedirect(name, udpPort, tcpPort) }];
  t.same(await tables.sync(want, true), [], 'the table applies');
  t.same(await tables.doctor(want), [], 'and reads back as planned');

  const u = await execInNetns(ns, 'socat', ['-T2', '-', `UDP:${RESOLVER_ADDRESS}:53`], { input: 'q1' });
  t.equal(u.stdout, 'udp answer to q1', 'UDP to port 53 answered from the resolver socket');
  const c = await execInNetns(ns, 'socat', ['-T2', '-', `TCP:${RESOLVER_ADDRESS}:53`], { input: '' });
  t.equal(c.stdout, 'tcp answer\n', 'TCP to port 53 answered from the resolver socket');

  // a task's own server on port 53 of another local address is not redirected
  const own = net.createServer((s) => s.end('own server\n'));
  const ownFd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_STREAM, 0, '127.0.0.1', 53);
  await new Promise<void>((resolve) => own.listen({ fd: ownFd }, resolve));
  t.teardown(() => own.close());
  const o = await execInNetns(ns, 'socat', ['-T2', '-', 'TCP:127.0.0.1:53'], { input: '' });
  t.equal(o.stdout, 'own server\n', "the task's own port 53 still answers");
});
