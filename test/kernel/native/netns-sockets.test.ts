/**
 * The native addon: namespaces by name, sockets opened inside a namespace and adopted by
 * Node, and the calling thread always back in its own namespace afterwards.
 */
import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { native } from '../../../src/kernel/native.ts';
import { createNetnsManager, netnsPath } from '../../../src/kernel/netns.ts';
import { openRtnl } from '../../../src/kernel/rtnl.ts';
import { requireKernel, run, runAsync, testPrefix } from '../../support/kernel.ts';

if (requireKernel(t)) {
  t.test('create, list, exists, delete are idempotent and visible to iproute2', async (t) => {
    const m = createNetnsManager();
    const name = `${testPrefix()}-n`;
    t.teardown(() => m.delete(name));
    t.equal(await m.create(name), true);
    t.equal(await m.create(name), false, 'creating an existing namespace is success');
    t.ok((await m.list()).includes(name));
    t.ok(await m.exists(name));
    t.match(run('ip', ['netns', 'list']), new RegExp(`^${name}\\b`, 'm'), 'ip netns list shows it');
    t.equal(await m.delete(name), true);
    t.equal(await m.delete(name), false, 'deleting a missing namespace is success');
    t.notOk(await m.exists(name));
  });

  t.test('UDP and TCP sockets opened in a namespace serve there, and Node adopts them', async (t) => {
    const m = createNetnsManager();
    const name = `${testPrefix()}-s`;
    t.teardown(() => m.delete(name));
    await m.create(name);
    const r = await openRtnl(name);
    await r.setLink('lo', { up: true });
    await r.addAddress({ link: 'lo', address: '127.0.0.11', prefixLen: 8 }).catch(() => undefined);
    r.close();

    const n = native();
    const own = n.netnsInode(null);
    const udpFd = n.openSocket(netnsPath(name), n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, '127.0.0.11', 5353);
    const tcpFd = n.openSocket(netnsPath(name), n.constants.AF_INET, n.constants.SOCK_STREAM, 0, '127.0.0.11', 5353);
    t.equal(n.netnsInode(null), own, 'the calling thread is back in its own namespace');

    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind({ fd: udpFd }, resolve));
    udp.on('message', (msg, rinfo) => udp.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    const server = net.createServer((c) => c.end('hello from inside\n'));
    await new Promise<void>((resolve) => server.listen({ fd: tcpFd }, resolve));
    t.teardown(() => {
      udp.close();
      server.close();
    });

    // a client inside the namespace reaches both; from the root namespace nothing listens there
    const tcpOut = await runAsync('nsenter', [`--net=${netnsPath(name)}`, '--', 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.11/5353; cat <&3']);
    t.equal(tcpOut, 'hello from inside\n', 'TCP served inside the namespace');
    const udpOut = await runAsync('nsenter', [`--net=${netnsPath(name)}`, '--', 'socat', '-T1', '-', 'UDP:127.0.0.11:5353'], 'ping');
    t.equal(udpOut, 'echo:ping', 'UDP served inside the namespace');
  });

  t.test('runInNetns runs inside and returns; a missing namespace is a coded error', async (t) => {
    const m = createNetnsManager();
    const name = `${testPrefix()}-r`;
    t.teardown(() => m.delete(name));
    await m.create(name);
    const n = native();
    const inside = n.runInNetns(netnsPath(name), () => n.netnsInode(null));
    t.equal(inside, n.netnsInode(netnsPath(name)), 'the callback ran in the target namespace');
    t.not(n.netnsInode(null), inside, 'and the thread came back');
    t.throws(
      () =>
        n.runInNetns(netnsPath(name), () => {
          throw new Error('boom');
        }),
      /boom/,
      'exceptions propagate',
    );
    t.not(n.netnsInode(null), inside, 'the thread came back after an exception too');
    t.throws(() => n.openSocket('/run/netns/shoal-does-not-exist', n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, null, 0), {
      code: 'SHOAL_ERR_NETNS_NOT_FOUND',
      errno: 'ENOENT',
    });
    await t.rejects(openRtnl('shoal-does-not-exist'), { code: 'SHOAL_ERR_NETNS_NOT_FOUND' });
  });
}
