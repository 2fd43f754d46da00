import t from 'tap';
import { ENVELOPE_OVERHEAD } from '../../../src/gossip/envelope.ts';
import type { GossipMessage } from '../../../src/gossip/messages.ts';
import { packMessages } from '../../../src/gossip/pack-messages.ts';
import { packetSize } from '../../../src/gossip/wire-size.ts';

t.test('packing fills datagrams up to the packet size and sets large messages apart', async (t) => {
  const msgs: GossipMessage[] = Array.from({ length: 100 }, (_, i) => ({
    kind: 'alive',
    node: `node-${i}`,
    addr: `192.0.2.${i}:7946`,
    incarnation: 1_767_225_600 + i,
    protocolMin: 1,
    protocolMax: 1,
  }));
  const big: GossipMessage = {
    kind: 'table',
    network: 'n',
    table: 't',
    key: 'k',
    owner: 'o',
    ltime: 1,
    deleted: false,
    value: new Uint8Array(5000),
    reapInMs: 0,
  };
  const { datagrams, large } = packMessages('sender', [...msgs, big], 1400);
  t.same(large, [big]);
  t.equal(datagrams.flat().length, 100, 'every small message placed once');
  for (const d of datagrams) t.ok(packetSize('sender', d) + ENVELOPE_OVERHEAD <= 1400, 'each fits 1,400 bytes sealed');
  t.ok(datagrams.length <= 4, `few datagrams (${datagrams.length})`);
});

t.test('a message that exactly fills the budget fits; one byte more does not', async (t) => {
  const at = (valueBytes: number): GossipMessage => ({
    kind: 'table',
    network: 'n',
    table: 't',
    key: 'k',
    owner: 'o',
    ltime: 1,
    deleted: false,
    value: new Uint8Array(valueBytes),
    reapInMs: 0,
  });
  let n = 0;
  while (packetSize('s', [at(n + 1)]) + ENVELOPE_OVERHEAD <= 512) n++;
  t.equal(packetSize('s', [at(n)]) + ENVELOPE_OVERHEAD, 512, 'the largest message fills 512 bytes exactly');
  t.same(packMessages('s', [at(n)], 512).large, [], 'and is sent in a datagram');
  t.equal(packMessages('s', [at(n + 1)], 512).large.length, 1, 'one byte more goes to a stream');
});
