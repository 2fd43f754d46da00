/**
 * Inbound connections from /proc/net/tcp: open sockets on a listening port count (from
 * SYN_RECV to LAST_ACK), the task's own outbound connections, TIME_WAIT and FIN_WAIT2 do not; and a real listener in
 * this process's namespace is seen.
 */
import t from 'tap';
import { createServer, connect } from 'node:net';
import { inboundConnections, parseProcNetTcp } from '../../../src/agent/connections.ts';

const SAMPLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0300000A:0050 0100000A:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0300000A:0050 0200000A:D432 06 00000000:00000000 03:00000C1E 00000000     0        0 0 3 0
   3: 0300000A:9C40 0500000A:1538 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   4: 0300000A:0050 0600000A:D433 03 00000000:00000000 01:00000064 00000002     0        0 0 1 0
   5: 0300000A:0050 0700000A:D434 04 00000012:00000000 01:00000064 00000001     0        0 4 1 0 20 4 30 10 -1
   6: 0300000A:0050 0800000A:D435 05 00000000:00000000 00:00000000 00000000     0        0 0 3 0
   7: 0300000A:0050 0900000A:D436 08 00000000:00000000 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1
`;

t.test('parse: listening ports and the local ports of open connections', async (t) => {
  const r = parseProcNetTcp(SAMPLE);
  t.same([...r.listening], [80]);
  t.same(r.open, [80, 40000, 80, 80, 80], 'ESTABLISHED, SYN_RECV, FIN_WAIT1 and CLOSE_WAIT; not TIME_WAIT (06) or FIN_WAIT2 (05)');
  t.equal(r.open.filter((p) => r.listening.has(p)).length, 4, 'the outbound connection from port 40000 is not inbound');
});

t.test('a real listener: one accepted connection is one inbound connection', async (t) => {
  const server = createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const before = await inboundConnections(process.pid);
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  const during = await inboundConnections(process.pid);
  t.equal(during - before, 1, `one more inbound connection (${before} -> ${during})`);
  sock.destroy();
});
