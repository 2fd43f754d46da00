/**
 * DatagramSocket (src/kernel/datagram.ts, native/src/datagram.c) on the real kernel, with
 * Node's dgram as the peer: every datagram arrives once with its bytes and its sender, an
 * answer given in the handler goes back in the batch, one given later goes at once, a
 * datagram longer than a slot is reported cut, a send to another socket in a handler
 * keeps both batches apart, and close() stops reading and frees the port.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { closeSync } from 'node:fs';
import { DATAGRAM_BATCH, DATAGRAM_MAX_SEND, DATAGRAM_SLOT, DatagramSocket } from '../../src/kernel/datagram.ts';
import { formatV4, parseV4 } from '../../src/common/ip.ts';
import { native } from '../../src/kernel/native.ts';
import { netnsPath } from '../../src/kernel/netns.ts';
import { execInNetns } from '../../src/kernel/exec.ts';
import { throwawayNetns } from '../support/kernel.ts';
import { waitUntil } from '../support/wait.ts';

const ADDR = '127.0.0.11';

t.test('IPv4 addresses as numbers, both ways', async (t) => {
  t.equal(parseV4('127.0.0.11'), 0x7f00000b);
  t.equal(parseV4('255.255.255.255'), 0xffffffff);
  t.equal(formatV4(0xc0000201), '192.0.2.1');
  t.equal(formatV4(parseV4('10.0.250.3')), '10.0.250.3');
});

/** A UDP socket bound in the namespace (fd from openSocket). */
function openFd(ns: string, address: string): number {
  const n = native();
  return n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, address, 0);
}

async function dgramIn(ns: string, address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind({ fd: openFd(ns, address) }, resolve));
  return s;
}

interface Got {
  bytes: Buffer;
  address: string;
  port: number;
}

t.test('datagrams in and out, in batches and one at a time', async (t) => {
  const ns = throwawayNetns(t, 'dgram');
  if (!ns) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);

  const got: Got[] = [];
  const errors: string[] = [];
  let later: { address: number; port: number } | undefined;
  const sock: DatagramSocket = new DatagramSocket(openFd(ns, ADDR), {
    onMessage(buf, start, end, address, port) {
      if (end < 0) {
        got.push({ bytes: Buffer.alloc(0), address: formatV4(address), port });
        return;
      }
      const bytes = Buffer.from(buf.subarray(start, end));
      got.push({ bytes, address: formatV4(address), port });
      if (bytes.toString() === 'later') later = { address, port };
      // the echo, reversed, queued with the batch
      else sock.send(Buffer.from(bytes).reverse(), address, port);
    },
    onError: (err) => errors.push(err.message),
  });
  t.teardown(() => sock.close());
  t.ok(sock.port > 0, 'bound to a port');

  const peer = await dgramIn(ns, '127.0.0.1');
  t.teardown(() => peer.close());
  const echoes: string[] = [];
  peer.on('message', (m) => echoes.push(m.toString()));

  // more than a batch at once: all of them, each once, in order, from the peer
  const N = DATAGRAM_BATCH * 3 + 7;
  for (let i = 0; i < N; i++) peer.send(`m${String(i).padStart(4, '0')}`, sock.port, ADDR);
  await waitUntil(() => echoes.length >= N, 10_000, `${N} echoes`);
  t.same(
    got.map((g) => g.bytes.toString()),
    Array.from({ length: N }, (_, i) => `m${String(i).padStart(4, '0')}`),
    'every datagram arrived once, in order',
  );
  t.ok(
    got.every((g) => g.address === '127.0.0.1' && g.port === peer.address().port),
    "each with the peer's address and port",
  );
  t.same(
    echoes.sort(),
    Array.from({ length: N }, (_, i) => `m${String(i).padStart(4, '0')}`.split('').reverse().join('')).sort(),
    'every answer queued in a handler went back',
  );
  t.same(sock.stats, { received: N, sent: N, sendFailed: 0, cut: 0 });

  // an answer given after the handler returned goes at once
  got.length = 0;
  echoes.length = 0;
  peer.send('later', sock.port, ADDR);
  await waitUntil(() => later !== undefined, 5_000, 'the datagram "later"');
  t.ok(sock.send(Buffer.from('answered later, and a tail not sent'), later!.address, later!.port, 'answered later'.length));
  await waitUntil(() => echoes.length === 1, 5_000, 'the late answer');
  t.same(echoes, ['answered later'], 'only the length asked for was sent');

  // longer than a slot: reported cut, not handed on in pieces
  got.length = 0;
  peer.send(Buffer.alloc(DATAGRAM_SLOT + 1, 0x61), sock.port, ADDR);
  await waitUntil(() => got.length === 1, 5_000, 'the long datagram');
  t.equal(got[0]!.bytes.length, 0, 'cut (end -1)');
  t.equal(sock.stats.cut, 1);

  // the longest UDP payload can be sent; one byte more is refused
  const big: Buffer[] = [];
  peer.removeAllListeners('message');
  peer.on('message', (m) => big.push(m));
  t.ok(sock.send(Buffer.alloc(DATAGRAM_MAX_SEND, 0x62), parseV4('127.0.0.1'), peer.address().port));
  t.notOk(sock.send(Buffer.alloc(DATAGRAM_MAX_SEND + 1), parseV4('127.0.0.1'), peer.address().port));
  await waitUntil(() => big.length === 1, 5_000, 'the largest datagram');
  t.equal(big[0]!.length, DATAGRAM_MAX_SEND);
  t.same(errors, [], 'no error reported');
});

t.test('a send to another socket from a handler keeps both batches apart', async (t) => {
  const ns = throwawayNetns(t, 'dgram2');
  if (!ns) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  const noErrors = { onError: (err: Error) => t.fail(err.message) };
  const b = new DatagramSocket(openFd(ns, '127.0.0.12'), { ...noErrors, onMessage() {} });
  t.teardown(() => b.close());
  const a: DatagramSocket = new DatagramSocket(openFd(ns, ADDR), {
    ...noErrors,
    onMessage(buf, start, end, address, port) {
      const text = buf.subarray(start, end).toString();
      a.send(Buffer.from(`a:${text}`), address, port); // queued in a's batch
      b.send(Buffer.from(`b:${text}`), address, port); // flushes a's, then goes at once
      a.send(Buffer.from(`a2:${text}`), address, port); // a's batch again
    },
  });
  t.teardown(() => a.close());
  const peer = await dgramIn(ns, '127.0.0.1');
  t.teardown(() => peer.close());
  const seen: string[] = [];
  peer.on('message', (m, r) => seen.push(`${r.address} ${m.toString()}`));
  peer.send('x', a.port, ADDR);
  await waitUntil(() => seen.length === 3, 5_000, 'three answers');
  t.same(seen.sort(), ['127.0.0.11 a2:x', '127.0.0.11 a:x', '127.0.0.12 b:x'], 'each from the socket that sent it');
});

t.test('close stops reading, is idempotent, and frees the port', async (t) => {
  const ns = throwawayNetns(t, 'dgram3');
  if (!ns) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  let received = 0;
  const sock = new DatagramSocket(openFd(ns, ADDR), {
    onMessage: () => {
      received++;
    },
    onError: (err) => t.fail(err.message),
  });
  const port = sock.port;
  sock.close();
  sock.close();
  t.ok(sock.closed);
  t.notOk(sock.send(Buffer.from('x'), parseV4('127.0.0.1'), 9), 'a closed socket sends nothing');
  t.throws(() => sock.port, /closed/);
  // the port is free again once libuv has let go of the fd (on the next turn of the loop)
  await waitUntil(
    () => {
      try {
        const n = native();
        const fd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, ADDR, port);
        closeSync(fd);
        return true;
      } catch {
        return false;
      }
    },
    5_000,
    'the port to be free',
  );
  t.equal(received, 0);
});

t.test('bad arguments are refused with a stable code', async (t) => {
  const n = native();
  t.throws(() => n.datagramOpen(-1, () => {}), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  t.throws(() => n.datagramRecv({}, new Uint8Array(8), 4, new Int32Array(3)), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  t.throws(() => n.datagramClose(undefined), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  const ns = throwawayNetns(t, 'dgram4');
  if (!ns) return;
  const s = new DatagramSocket(openFd(ns, ADDR), { onMessage() {}, onError: (err) => t.fail(err.message) });
  t.teardown(() => s.close());
  const handle = (s as unknown as { handle: unknown }).handle;
  t.throws(
    () => n.datagramSend(handle, new Uint8Array(4), new Int32Array([2, 4, 0x7f000001, 53]), 1),
    {
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
    },
    'a datagram past the end of the buffer',
  );
  t.throws(
    () => n.datagramSend(handle, new Uint8Array(4), new Int32Array([0, 4, 0x7f000001, 70000]), 1),
    {
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
    },
    'a port out of range',
  );
  t.throws(
    () => n.datagramSend(handle, new Uint8Array(4), new Int32Array(4), DATAGRAM_BATCH + 1),
    {
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
    },
    'more than a batch',
  );
});
