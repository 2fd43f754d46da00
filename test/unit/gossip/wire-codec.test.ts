import t from 'tap';
import fc from 'fast-check';
import { MAX_COUNTER, type GossipMessage, type StreamFrame } from '../../../src/gossip/messages.ts';
import { decodeFrame, decodePacket, encodeFrame, encodeMessage, encodePacket } from '../../../src/gossip/wire-codec.ts';
import { messageSize, packetSize } from '../../../src/gossip/wire-size.ts';

const str = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0'));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const counter = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: MAX_COUNTER }));

const messageArb: fc.Arbitrary<GossipMessage> = fc.oneof(
  fc.record({ kind: fc.constant('ping' as const), seq: u32, target: fc.oneof(fc.constant(''), str) }),
  fc.record({ kind: fc.constant('indirect-ping' as const), seq: u32, target: str, targetAddr: str, wantNack: fc.boolean() }),
  fc.record({ kind: fc.constant('ack' as const), seq: u32 }),
  fc.record({ kind: fc.constant('nack' as const), seq: u32 }),
  fc.record({ kind: fc.constant('alive' as const), node: str, addr: str, incarnation: counter, protocolMin: u32, protocolMax: u32 }),
  fc.record({ kind: fc.constant('suspect' as const), node: str, incarnation: counter, from: str }),
  fc.record({ kind: fc.constant('dead' as const), node: str, incarnation: counter, from: str }),
  fc.record({ kind: fc.constant('network' as const), node: str, network: str, ltime: counter, joined: fc.boolean() }),
  fc.record({
    kind: fc.constant('table' as const),
    network: str,
    table: str,
    key: str,
    owner: str,
    ltime: counter,
    deleted: fc.boolean(),
    value: fc.uint8Array({ maxLength: 300 }),
    reapInMs: u32,
  }),
);

/** Deep copy with byte arrays as plain arrays, for comparisons. */
function normal(x: unknown): unknown {
  if (x instanceof Uint8Array) return [...x];
  if (Array.isArray(x)) return x.map(normal);
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, normal(v)]));
  return x;
}

function plain(m: GossipMessage): unknown {
  return m.kind === 'table' ? { ...m, value: [...m.value] } : m;
}

t.test('every message round-trips through a packet, and its size is exact', async (t) => {
  fc.assert(
    fc.property(str, fc.array(messageArb, { minLength: 1, maxLength: 8 }), (from, messages) => {
      const bytes = encodePacket(from, messages);
      if (bytes.length !== packetSize(from, messages)) return false;
      for (const m of messages) if (encodeMessage(m).length !== messageSize(m)) return false;
      const back = decodePacket(bytes);
      if (!back || back.from !== from || back.messages.length !== messages.length) return false;
      return back.messages.every((m, i) => JSON.stringify(plain(m)) === JSON.stringify(plain(messages[i]!)));
    }),
    { numRuns: 500 },
  );
  t.pass('500 random packets');
});

t.test('stream frames round-trip', async (t) => {
  const frames: StreamFrame[] = [
    {
      from: 'a',
      body: {
        kind: 'push-pull',
        join: true,
        members: [{ node: 'x', addr: '192.0.2.1:7946', incarnation: 7, status: 'left' }],
        attachments: [{ node: 'x', network: 'n', ltime: 9, joined: false }],
      },
    },
    {
      from: 'a',
      body: {
        kind: 'table-sync',
        network: 'n',
        owners: [{ owner: 'o', count: 3, hashLo: 0xffffffff, hashHi: 1 }],
        attachments: { count: 2, hashLo: 5, hashHi: 0xffffffff },
      },
    },
    {
      from: 'a',
      body: {
        kind: 'table-sync-reply',
        network: 'n',
        member: true,
        differingOwners: ['o'],
        versions: [{ owner: 'o', table: 't', key: 'k', ltime: 2, deleted: true }],
        attachments: [{ node: 'x', network: 'n', ltime: 9, joined: true }],
        wantAttachments: true,
      },
    },
    { from: 'a', body: { kind: 'table-fetch', network: 'n', want: [{ owner: 'o', table: 't', key: 'k' }], push: [], attachments: [] } },
    {
      from: 'a',
      body: {
        kind: 'table-fetch-reply',
        network: 'n',
        entries: [
          {
            kind: 'table',
            network: 'n',
            table: 't',
            key: 'k',
            owner: 'o',
            ltime: 5,
            deleted: false,
            value: new Uint8Array([1]),
            reapInMs: 0,
          },
        ],
      },
    },
    { from: 'a', body: { kind: 'deliver', messages: [{ kind: 'ack', seq: 1 }] } },
    { from: 'a', body: { kind: 'done' } },
    { from: 'a', body: { kind: 'refused', reason: 'busy' } },
  ];
  for (const f of frames) t.same(normal(decodeFrame(encodeFrame(f))), normal(f), f.body.kind);
});

t.test('malformed input is refused, never thrown', async (t) => {
  const good = encodePacket('n1', [{ kind: 'ack', seq: 1 }]);
  t.ok(decodePacket(good));
  t.equal(decodePacket(new Uint8Array(0)), undefined, 'empty');
  t.equal(decodePacket(good.subarray(0, good.length - 1)), undefined, 'truncated');
  t.equal(decodePacket(encodePacket('', [{ kind: 'ack', seq: 1 }])), undefined, 'no sender');
  t.equal(decodePacket(encodePacket('n1', [])), undefined, 'no messages');
  t.equal(
    decodePacket(encodePacket('n1', [{ kind: 'alive', node: '', addr: 'a', incarnation: 1, protocolMin: 1, protocolMax: 1 }])),
    undefined,
    'empty node name',
  );
  t.equal(decodePacket(encodePacket('n\0x', [{ kind: 'ack', seq: 1 }])), undefined, 'NUL in a name');
  t.equal(
    decodePacket(encodePacket('n1', [{ kind: 'alive', node: 'x', addr: 'a', incarnation: 2 ** 60, protocolMin: 1, protocolMax: 1 }])),
    undefined,
    'incarnation above 2^53',
  );
  t.equal(decodePacket(encodePacket('n1', [{ kind: 'ping', seq: 1, target: 'x'.repeat(300) }])), undefined, 'name too long');
  // A Message with two kinds of its oneof set (ping, then ack): protobuf's rule, the last
  // one wins.
  const twoKinds = new Uint8Array([0x0a, 0x02, 0x6e, 0x31, 0x12, 0x06, 0x0a, 0x00, 0x1a, 0x02, 0x08, 0x01]);
  t.same(decodePacket(twoKinds)?.messages, [{ kind: 'ack', seq: 1 }], 'two kinds in one Message: the last wins');
  // Unknown member status in a push-pull.
  const frame = encodeFrame({
    from: 'a',
    body: { kind: 'push-pull', join: false, members: [{ node: 'x', addr: 'y', incarnation: 1, status: 'alive' }], attachments: [] },
  });
  const i = frame.indexOf(0x20); // field 4 (status), varint
  const bad = Uint8Array.from(frame);
  bad[i + 1] = 9;
  t.equal(decodeFrame(bad), undefined, 'unknown enum value');
  t.equal(decodeFrame(new Uint8Array([0xff, 0xff, 0xff])), undefined, 'garbage frame');
});
