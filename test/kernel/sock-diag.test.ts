/**
 * listeningTcpPorts and inboundTcpConnections (src/kernel/sock-diag.ts) on the real kernel,
 * against what the namespace really has: TCP sockets that listen (IPv4 and dual-stack IPv6)
 * are reported by port; a bound socket that does not listen, a connected socket, a UDP
 * socket and the sockets of another namespace are not; an accepted connection is inbound,
 * its client's end is not, and neither is a connection in its handshake (the final ACK
 * dropped) nor one whose answer is not yet acknowledged (the client's input dropped). A
 * namespace that is gone is NETNS_NOT_FOUND.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { native } from '../../src/kernel/native.ts';
import { netnsPath } from '../../src/kernel/netns.ts';
import { inboundTcpConnections, listenDumpRequest, listeningPortOf, listeningTcpPorts } from '../../src/kernel/sock-diag.ts';
import { execInNetns } from '../../src/kernel/exec.ts';
import { throwawayNetns } from '../support/kernel.ts';

t.test('the request asks for TCP sockets in LISTEN only, and an answer gives its local port', async (t) => {
  const req = listenDumpRequest(2);
  t.equal(req.length, 56);
  t.equal(req[0], 2, 'family');
  t.equal(req[1], 6, 'TCP');
  t.equal(new DataView(req.buffer).getUint32(4, true), 1 << 10, 'state mask: LISTEN alone');
  const msg = new Uint8Array(72);
  msg[1] = 10;
  msg[4] = 0x1f;
  msg[5] = 0x90;
  t.equal(listeningPortOf(msg), 8080);
  msg[1] = 1; // ESTABLISHED
  t.equal(listeningPortOf(msg), undefined);
  t.equal(listeningPortOf(new Uint8Array(4)), undefined, 'too short');
  t.equal(new DataView(listenDumpRequest(10, [1, 10]).buffer).getUint32(4, true), (1 << 1) | (1 << 10), 'ESTABLISHED and LISTEN');
});

t.test('the listening TCP ports of a namespace, and nothing else', async (t) => {
  const ns = throwawayNetns(t, 'sdiag');
  const other = throwawayNetns(t, 'sdiag2');
  if (!ns || !other) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  await execInNetns(other, 'ip', ['link', 'set', 'lo', 'up']);
  const n = native();
  const { AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM } = n.constants;

  const closers: Array<() => void> = [];
  t.teardown(() => {
    for (const c of closers) c();
  });
  const listen = async (nsName: string, family: number, addr: string, port: number): Promise<net.Server> => {
    const fd = n.openSocket(netnsPath(nsName), family, SOCK_STREAM, 0, addr, port);
    const server = net.createServer((c) => c.on('error', () => c.destroy()));
    await new Promise<void>((resolve) => server.listen({ fd }, resolve));
    closers.push(() => server.close());
    return server;
  };

  t.same([...(await listeningTcpPorts(netnsPath(ns)))], [], 'a new namespace listens on nothing');

  await listen(ns, AF_INET, '127.0.0.1', 8080);
  await listen(ns, AF_INET6, '::', 9090); // dual stack, as Node listens by default
  await listen(other, AF_INET, '127.0.0.1', 7070);
  // bound, not listening
  const boundFd = n.openSocket(netnsPath(ns), AF_INET, SOCK_STREAM, 0, '127.0.0.1', 6060);
  closers.push(() => new net.Socket({ fd: boundFd }).destroy());
  // UDP on a port number of its own
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind({ fd: n.openSocket(netnsPath(ns), AF_INET, SOCK_DGRAM, 0, '127.0.0.1', 5353) }, resolve));
  closers.push(() => udp.close());
  // a connected socket (and its accepted peer) to the 8080 listener, from a client in the namespace
  const client = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'python3',
      '-c',
      'import socket,time; s=socket.create_connection(("127.0.0.1",8080)); print("up", flush=True); time.sleep(30)',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  closers.push(() => {
    if (client.exitCode === null) client.kill('SIGTERM');
  });
  await new Promise<void>((resolve, reject) => {
    client.stdout.once('data', () => resolve());
    client.once('exit', (code) => reject(new Error(`the client exited with ${code}`)));
  });

  const ports = [...(await listeningTcpPorts(netnsPath(ns)))].sort((a, b) => a - b);
  t.same(ports, [8080, 9090], 'the two listeners, IPv4 and IPv6; not the bound socket, the connection, UDP or the other namespace');
  t.same([...(await listeningTcpPorts(netnsPath(other)))], [7070], "the other namespace's own");

  // /proc/PID/ns/net names the same namespace
  t.same(
    [...(await listeningTcpPorts(`/proc/${client.pid}/ns/net`))].sort((a, b) => a - b),
    [8080, 9090],
    "through a process's namespace link",
  );

  t.equal(
    await inboundTcpConnections(netnsPath(ns)),
    1,
    "one inbound connection: the client's, accepted on 8080 (its own end is outbound)",
  );
  t.equal(await inboundTcpConnections(netnsPath(other)), 0, 'none in the other namespace');
  t.equal(await inboundTcpConnections(`/proc/${client.pid}/ns/net`), 1, "through the client's namespace link");
});

t.test('a connection in its handshake and one with its answer unacknowledged are inbound', async (t) => {
  const ns = throwawayNetns(t, 'sdiag4');
  if (!ns) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  // Bare ACKs to 8080 are lost: the third step of the handshake never reaches the listener,
  // which keeps a request socket (NEW_SYN_RECV). Bare ACKs from 8081 are lost: the answer
  // and FIN the server sends are never acknowledged, so its socket stays in FIN_WAIT1.
  await execInNetns(ns, 'nft', ['add table inet sdiag']);
  await execInNetns(ns, 'nft', ['add chain inet sdiag in { type filter hook input priority 0; }']);
  await execInNetns(ns, 'nft', ['add rule inet sdiag in tcp dport 8080 tcp flags & (syn | ack) == ack drop']);
  await execInNetns(ns, 'nft', ['add rule inet sdiag in tcp sport 8081 tcp flags & (syn | ack) == ack drop']);
  const n = native();
  const closers: Array<() => void> = [];
  t.teardown(() => {
    for (const c of closers) c();
  });
  const listen = async (port: number, onConnection: (c: net.Socket) => void): Promise<void> => {
    const fd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_STREAM, 0, '127.0.0.1', port);
    const server = net.createServer((c) => {
      c.on('error', () => c.destroy());
      onConnection(c);
    });
    await new Promise<void>((resolve) => server.listen({ fd }, resolve));
    closers.push(() => server.close());
  };
  let answered = false;
  await listen(8080, () => {});
  await listen(8081, (c) => {
    c.end('x'.repeat(2000));
    answered = true;
  });
  t.equal(await inboundTcpConnections(netnsPath(ns)), 0, 'nothing yet');

  const connectFrom = (port: number): void => {
    const client = spawn(
      'ip',
      ['netns', 'exec', ns, 'python3', '-c', `import socket,time; s=socket.create_connection(("127.0.0.1",${port})); time.sleep(30)`],
      {
        stdio: 'ignore',
      },
    );
    closers.push(() => {
      if (client.exitCode === null) client.kill('SIGTERM');
    });
  };
  const until = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  connectFrom(8080);
  await until('the handshake to 8080', async () => (await inboundTcpConnections(netnsPath(ns))) === 1);
  t.pass('the connection in its handshake (NEW_SYN_RECV) is inbound');

  // The answering server: the client's end on the listener's port (8081) counts once the
  // answer is sent; it stays unacknowledged for as long as the rule drops the client's ACKs.
  connectFrom(8081);
  await until('the answer on 8081', async () => answered && (await inboundTcpConnections(netnsPath(ns))) === 2);
  t.pass('the closed connection whose answer is unacknowledged (FIN_WAIT1) is inbound');
});

t.test('a namespace that is gone is NETNS_NOT_FOUND', async (t) => {
  const ns = throwawayNetns(t, 'sdiag3');
  if (!ns) return;
  await t.rejects(listeningTcpPorts(`${netnsPath(ns)}-nosuch`), { code: 'SHOAL_ERR_NETNS_NOT_FOUND' });
});
